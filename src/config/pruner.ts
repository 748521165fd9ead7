/**
 * `OpThresholdPrunerConfig` and `OpMagnitudePrunerConfig`: how to prune weights (coremltools'
 * fields, defaults and validation rules).
 */
import { ConfigError } from "../errors.js";
import type { OpConfig } from "./optimization-config.js";
import { FieldReader, registerOpConfigKind } from "./parse.js";

export const THRESHOLD_PRUNER = "OpThresholdPrunerConfig";
export const MAGNITUDE_PRUNER = "OpMagnitudePrunerConfig";
export const PRUNER_KINDS = [THRESHOLD_PRUNER, MAGNITUDE_PRUNER] as const;

export interface OpThresholdPrunerConfig extends OpConfig {
  readonly kind: typeof THRESHOLD_PRUNER;
  /** Weights with |w| <= threshold become 0. */
  readonly threshold: number;
  /** The weight is left dense unless at least this fraction of it ends up 0. */
  readonly minimumSparsityPercentile: number;
}

export interface OpMagnitudePrunerConfig extends OpConfig {
  readonly kind: typeof MAGNITUDE_PRUNER;
  /** Fraction of elements (or blocks) of least magnitude to zero; exclusive with nMRatio. */
  readonly targetSparsity?: number;
  /** Prune blocks of this many channels along `dim` together (> 1; with targetSparsity). */
  readonly blockSize?: number;
  /** Zero n of every m consecutive channels along `dim`. */
  readonly nMRatio?: readonly [number, number];
  /** Channel axis of block or n:m sparsity: 0 (default for blocks) or 1 (default for n:m). */
  readonly dim?: 0 | 1;
}

export type PrunerConfig = OpThresholdPrunerConfig | OpMagnitudePrunerConfig;

const WEIGHT_THRESHOLD = 2048;

function parseThreshold(fields: FieldReader): OpThresholdPrunerConfig {
  return {
    kind: THRESHOLD_PRUNER,
    threshold: fields.number("threshold", 1e-12, { min: 0 }),
    minimumSparsityPercentile: fields.number("minimum_sparsity_percentile", 0.5, {
      min: 0,
      max: 1,
    }),
    weightThreshold: fields.integer("weight_threshold", WEIGHT_THRESHOLD),
  };
}

function optionalInteger(fields: FieldReader, key: string): number | undefined {
  const value = fields.raw(key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    fields.fail(key, `expected an integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function parseMagnitude(fields: FieldReader): OpMagnitudePrunerConfig {
  const rawSparsity = fields.raw("target_sparsity");
  const targetSparsity =
    rawSparsity === undefined || rawSparsity === null
      ? undefined
      : fields.number("target_sparsity", 0, { min: 0, max: 1 });
  const rawRatio = fields.raw("n_m_ratio");
  let nMRatio: [number, number] | undefined;
  if (rawRatio !== undefined && rawRatio !== null) {
    const valid =
      Array.isArray(rawRatio) &&
      rawRatio.length === 2 &&
      rawRatio.every((v) => typeof v === "number" && Number.isInteger(v) && v >= 0) &&
      rawRatio[0] < rawRatio[1];
    // coremltools accepts n = m, which zeroes the whole weight: refused here as a degenerate
    // ratio (surely a mistake), like n > m.
    if (!valid) {
      fields.fail(
        "n_m_ratio",
        `expected [n, m] with integers 0 <= n < m, got ${JSON.stringify(rawRatio)}`,
      );
    }
    nMRatio = [rawRatio[0], rawRatio[1]];
  }
  if ((targetSparsity === undefined) === (nMRatio === undefined)) {
    fields.fail("target_sparsity", "set exactly one of target_sparsity and n_m_ratio");
  }
  const blockSize = optionalInteger(fields, "block_size");
  if (blockSize !== undefined) {
    if (nMRatio) fields.fail("block_size", "block_size and n_m_ratio cannot be set together");
    if (blockSize <= 1) fields.fail("block_size", `must be an integer > 1, got ${blockSize}`);
  }
  const rawDim = optionalInteger(fields, "dim");
  if (rawDim !== undefined) {
    if (blockSize === undefined && !nMRatio) {
      fields.fail("dim", "can only be set along with block_size or n_m_ratio");
    }
    if (rawDim !== 0 && rawDim !== 1) fields.fail("dim", `must be 0 or 1, got ${rawDim}`);
  }
  const dim =
    rawDim !== undefined
      ? (rawDim as 0 | 1)
      : blockSize !== undefined
        ? 0
        : nMRatio
          ? 1
          : undefined;
  return {
    kind: MAGNITUDE_PRUNER,
    ...(targetSparsity !== undefined && { targetSparsity }),
    ...(blockSize !== undefined && { blockSize }),
    ...(nMRatio && { nMRatio }),
    ...(dim !== undefined && { dim }),
    weightThreshold: fields.integer("weight_threshold", WEIGHT_THRESHOLD),
  };
}

/** Op types whose `weight` input block and n:m sparsity may prune. */
export const STRUCTURED_PRUNING_OPS = new Set(["conv", "linear"]);

export function isStructuredPruning(config: PrunerConfig): boolean {
  return (
    config.kind === MAGNITUDE_PRUNER &&
    (config.blockSize !== undefined || config.nMRatio !== undefined)
  );
}

registerOpConfigKind<OpThresholdPrunerConfig>({ kind: THRESHOLD_PRUNER, parse: parseThreshold });
registerOpConfigKind<OpMagnitudePrunerConfig>({
  kind: MAGNITUDE_PRUNER,
  parse: parseMagnitude,
  validateOpType(opType, config, path) {
    if (isStructuredPruning(config) && !STRUCTURED_PRUNING_OPS.has(opType)) {
      throw new ConfigError(
        `${path}: block sparsity or n:m pruning does not support op type ${opType}`,
      );
    }
  },
});

function build<C>(parse: (fields: FieldReader) => C, options: object, path: string): C {
  const dict: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) if (value !== undefined) dict[key] = value;
  const reader = new FieldReader(dict, path);
  const config = parse(reader);
  reader.finish();
  return config;
}

export type ThresholdPrunerOptions = Partial<Omit<OpThresholdPrunerConfig, "kind">>;
export type MagnitudePrunerOptions = Partial<Omit<OpMagnitudePrunerConfig, "kind">>;

/** A validated threshold pruner config; omitted fields take coremltools' defaults. */
export function thresholdPrunerConfig(
  options: ThresholdPrunerOptions = {},
  path = "config",
): OpThresholdPrunerConfig {
  return build(parseThreshold, options, path);
}

/** A validated magnitude pruner config (targetSparsity or nMRatio required). */
export function magnitudePrunerConfig(
  options: MagnitudePrunerOptions,
  path = "config",
): OpMagnitudePrunerConfig {
  return build(parseMagnitude, options, path);
}
