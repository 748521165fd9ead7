/**
 * Reading optimization configs in coremltools' `from_dict` / `from_yaml` shape:
 *
 *   config_type: OpLinearQuantizerConfig
 *   global_config: { dtype: int8 }
 *   op_type_configs: { conv: { dtype: int4, granularity: per_block, block_size: 16 }, gather: null }
 *   op_name_configs: { fc2: null }
 *
 * Keys are snake_case (camelCase spellings are accepted too). Each op config kind registers a
 * parser here; an entry may name its own `config_type` to override the file's.
 */
import { ConfigError } from "../errors.js";
import type { OpConfig, OptimizationConfig } from "./optimization-config.js";

type Dict = Record<string, unknown>;

/** The key path of options that came from command-line flags: errors name `--the-flag`. */
export const FLAG_PATH = "--";

/** Reads the fields of one dictionary, naming the key path in every error. */
export class FieldReader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly dict: Dict,
    /** Key path of this dictionary, e.g. `op_type_configs.conv`. */
    readonly path: string,
  ) {}

  private where(key: string): string {
    if (this.path === FLAG_PATH) {
      return `--${key.replace(/_/g, "-").replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    }
    return this.path ? `${this.path}.${key}` : key;
  }

  /** The raw value of `key` (snake_case) or its camelCase spelling; undefined when absent. */
  raw(key: string): unknown {
    const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    for (const k of [key, camel]) {
      if (Object.prototype.hasOwnProperty.call(this.dict, k)) {
        this.seen.add(k);
        return this.dict[k];
      }
    }
    return undefined;
  }

  fail(key: string, problem: string): never {
    throw new ConfigError(`${this.where(key)}: ${problem}`);
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const text = typeof value === "string" ? value.toLowerCase() : undefined;
    const match = allowed.find((a) => a === text);
    if (match === undefined) {
      this.fail(key, `expected one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
    }
    return match;
  }

  integer(key: string, fallback: number, min = 0): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
      this.fail(key, `expected an integer >= ${min}, got ${JSON.stringify(value)}`);
    }
    return value;
  }

  /** A number; `exclusiveMin`/`max` bound it when given. */
  number(key: string, fallback: number, bounds: { min?: number; max?: number } = {}): number {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const { min = -Infinity, max = Infinity } = bounds;
    if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
      this.fail(key, `expected a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
    }
    return value;
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    if (typeof value !== "boolean")
      this.fail(key, `expected true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  /** An integer or a list of integers (each >= `min`). */
  integerOrList(key: string, fallback: number | number[], min = 0): number | number[] {
    const value = this.raw(key);
    if (value === undefined) return fallback;
    const ok = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= min;
    if (ok(value)) return value as number;
    if (Array.isArray(value) && value.length > 0 && value.every(ok))
      return [...(value as number[])];
    this.fail(key, `expected an integer >= ${min} or a list of them, got ${JSON.stringify(value)}`);
  }

  /** Fails on keys no field read. */
  finish(): void {
    for (const key of Object.keys(this.dict)) {
      if (!this.seen.has(key)) throw new ConfigError(`${this.where(key)}: unknown key`);
    }
  }
}

export interface OpConfigKind<C extends OpConfig = OpConfig> {
  /** coremltools' class name, e.g. `OpLinearQuantizerConfig`. */
  readonly kind: string;
  /** Builds a config from its fields (call `fields.finish()` after reading them). */
  parse(fields: FieldReader): C;
  /** Rejects op types this kind cannot configure (an entry of `op_type_configs`). */
  validateOpType?(opType: string, config: C, path: string): void;
}

const KINDS = new Map<string, OpConfigKind>();

/** Makes a config kind known to `parseOptimizationConfig` and `loadConfigFile`. */
export function registerOpConfigKind<C extends OpConfig>(kind: OpConfigKind<C>): void {
  KINDS.set(kind.kind, kind as unknown as OpConfigKind);
}

export function opConfigKinds(): string[] {
  return [...KINDS.keys()];
}

function isDict(value: unknown): value is Dict {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function kindNamed(name: unknown, path: string): OpConfigKind {
  if (typeof name !== "string") {
    throw new ConfigError(`${path}: config_type must be a string naming the config class`);
  }
  const kind = KINDS.get(name);
  if (!kind) {
    throw new ConfigError(
      `${path}: unknown config_type "${name}" (expected one of ${opConfigKinds().join(", ")})`,
    );
  }
  return kind;
}

function parseOpConfig(value: unknown, fileKind: OpConfigKind, path: string): OpConfig | null {
  if (value === null) return null;
  if (!isDict(value)) throw new ConfigError(`${path}: expected a mapping of config fields or null`);
  const { config_type: ownType, configType, ...fields } = value;
  const kind =
    ownType !== undefined || configType !== undefined
      ? kindNamed(ownType ?? configType, `${path}.config_type`)
      : fileKind;
  const reader = new FieldReader(fields, path);
  const config = kind.parse(reader);
  reader.finish();
  return config;
}

/** An `OptimizationConfig` from a dictionary in coremltools' `from_dict` shape. */
export function parseOptimizationConfig(dict: unknown, source = "config"): OptimizationConfig {
  if (!isDict(dict)) throw new ConfigError(`${source}: expected a mapping at the top level`);
  const top = new FieldReader(dict, "");
  const fileKind = kindNamed(top.raw("config_type"), "config_type");
  const result: {
    globalConfig?: OpConfig | null;
    opTypeConfigs?: Record<string, OpConfig | null>;
    opNameConfigs?: Record<string, OpConfig | null>;
  } = {};
  const global = top.raw("global_config");
  if (global !== undefined && global !== null) {
    result.globalConfig = parseOpConfig(global, fileKind, "global_config");
  }
  for (const [key, field] of [
    ["op_type_configs", "opTypeConfigs"],
    ["op_name_configs", "opNameConfigs"],
  ] as const) {
    const entries = top.raw(key);
    if (entries === undefined || entries === null) continue;
    if (!isDict(entries)) throw new ConfigError(`${key}: expected a mapping from names to configs`);
    const parsed: Record<string, OpConfig | null> = {};
    for (const [name, value] of Object.entries(entries)) {
      const config = parseOpConfig(value, fileKind, `${key}.${name}`);
      if (config && key === "op_type_configs") {
        KINDS.get(config.kind)?.validateOpType?.(name, config, `${key}.${name}`);
      }
      parsed[name] = config;
    }
    result[field] = parsed;
  }
  top.finish();
  return result;
}

/**
 * A config file's text as a dictionary: JSON when `fileName` ends in `.json`, else YAML. The
 * YAML parser is loaded on first use, so code that never reads YAML never loads it.
 */
export async function parseConfigDict(text: string, fileName: string): Promise<unknown> {
  const json = fileName.toLowerCase().endsWith(".json");
  const parse: (text: string) => unknown = json ? JSON.parse : (await import("yaml")).parse;
  try {
    return parse(text);
  } catch (error) {
    throw new ConfigError(
      `${fileName}: not valid ${json ? "JSON" : "YAML"}: ${firstLine((error as Error).message)}`,
    );
  }
}

/** Parsers' messages go on with a code frame; the first line says what is wrong and where. */
function firstLine(message: string): string {
  return message.split("\n")[0].replace(/:$/, "");
}

/** Runs `parse`, prefixing config errors with the file they come from. */
export function inFile<T>(fileName: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${fileName}: ${error.message}`);
    throw error;
  }
}

/** Parses a config file's text: JSON when `fileName` ends in `.json`, else YAML. */
export async function parseConfigText(text: string, fileName: string): Promise<OptimizationConfig> {
  const dict = await parseConfigDict(text, fileName);
  return inFile(fileName, () => parseOptimizationConfig(dict, fileName));
}
