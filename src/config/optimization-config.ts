/**
 * Which compression settings apply to which weights: a global config, per op type and per op
 * name, with coremltools' precedence (op name, then op type, then global). A `null` entry means
 * "leave these weights alone".
 */
import type { Operation } from "../format/gen/MIL_pb.js";
import { ConfigError } from "../errors.js";
import { opName } from "../program/ops.js";

/** What every op config has: its kind (coremltools' class name) and its size threshold. */
export interface OpConfig {
  readonly kind: string;
  /** Only tensors with more elements than this are compressed. */
  readonly weightThreshold: number;
}

export interface OptimizationConfig<C extends OpConfig = OpConfig> {
  globalConfig?: C | null;
  opTypeConfigs?: Readonly<Record<string, C | null>>;
  opNameConfigs?: Readonly<Record<string, C | null>>;
}

function has(record: Readonly<Record<string, unknown>> | undefined, key: string): boolean {
  return record !== undefined && Object.prototype.hasOwnProperty.call(record, key);
}

/** The config of a (non-const) op: by its name, else its type, else the global one. */
export function configForOp<C extends OpConfig>(
  config: OptimizationConfig<C>,
  op: Operation,
): C | null {
  const name = opName(op);
  if (has(config.opNameConfigs, name)) return config.opNameConfigs![name];
  if (has(config.opTypeConfigs, op.type)) return config.opTypeConfigs![op.type];
  return config.globalConfig ?? null;
}

/**
 * The config of a const weight: by the const's own name, else the one every consumer op agrees
 * on (null when it has no consumer op). Consumers with different configs are an error, as in
 * coremltools, because a weight is compressed once for all of them.
 */
export function configForWeight<C extends OpConfig>(
  config: OptimizationConfig<C>,
  constOp: Operation,
  consumers: readonly Operation[],
): C | null {
  const name = opName(constOp);
  if (has(config.opNameConfigs, name)) return config.opNameConfigs![name];
  if (has(config.opTypeConfigs, "const")) {
    throw new ConfigError(
      "op_type_configs.const: const ops cannot get an op type config; use global_config or op_name_configs",
    );
  }
  if (consumers.length === 0) return null;
  const configs = consumers.map((op) => configForOp(config, op));
  configs.forEach((other, i) => {
    if (!sameConfig(configs[0], other)) {
      throw new ConfigError(
        `weight ${name}: config conflict between its consumers ${opName(consumers[0])} ` +
          `(${describeConfig(configs[0])}) and ${opName(consumers[i])} (${describeConfig(other)})`,
      );
    }
  });
  return configs[0];
}

/** Structural equality of two configs (plain data: numbers, strings, arrays, objects). */
export function sameConfig(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every(
    (k) =>
      has(b as Record<string, unknown>, k) &&
      sameConfig((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

export function describeConfig(config: OpConfig | null): string {
  return config === null ? "null" : JSON.stringify(config);
}

/** Every config a pass may meet: to check kinds once before running. */
export function allConfigs<C extends OpConfig>(config: OptimizationConfig<C>): C[] {
  return [
    config.globalConfig ?? null,
    ...Object.values(config.opTypeConfigs ?? {}),
    ...Object.values(config.opNameConfigs ?? {}),
  ].filter((c): c is C => c !== null);
}

/** Fails unless every op config is of one of the kinds a pass accepts. */
export function expectConfigKinds(
  config: OptimizationConfig,
  kinds: readonly string[],
  pass: string,
): void {
  for (const c of allConfigs(config)) {
    if (!kinds.includes(c.kind)) {
      throw new ConfigError(`${pass} accepts only ${kinds.join(" or ")} configs, got ${c.kind}`);
    }
  }
}
