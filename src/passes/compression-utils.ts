/**
 * The older ML-program compression API coremltools still documents (`compression_utils`):
 * `affine_quantize_weights`, `palettize_weights`, `sparsify_weights` and `decompress_weights`,
 * each taking an `op_selector` predicate instead of a config. They map onto the config-based
 * passes: the selector is asked about every const weight, accepted weights get the pass's config
 * by name (with no size threshold: the selector decides), rejected ones get null.
 *
 * One difference remains: coremltools' deprecated path also compresses selected rank-1 weights;
 * the config-based passes, and so these aliases, leave rank-1 weights alone.
 */
import type { MLModel } from "../format/model.js";
import { elementCount, type ElementType } from "../kernels/dtype.js";
import { modelTree } from "../format/model-tree.js";
import { ConfigError } from "../errors.js";
import {
  linearQuantizerConfig,
  type QuantizationDtype,
  type QuantizationMode,
} from "../config/linear-quantizer.js";
import type { OpConfig, OptimizationConfig } from "../config/optimization-config.js";
import {
  palettizerConfig,
  type LutFunction,
  type PalettizationMode,
} from "../config/palettizer.js";
import { magnitudePrunerConfig, thresholdPrunerConfig } from "../config/pruner.js";
import { constValue, opName } from "../program/ops.js";
import { tensorTypeInfo } from "../program/types.js";
import { allOperations } from "../program/walk.js";
import { decompressWeights as decompressAll } from "./decompress.js";
import { linearQuantizeWeights } from "./linear-quantize.js";
import { palettizeWeights as palettizeWithConfig } from "./palettize.js";
import { pruneWeights } from "./prune.js";

/** What an op selector is told about a const weight. */
export interface ConstOpInfo {
  name: string;
  type: "const";
  dtype: ElementType;
  shape: readonly number[];
}

export type OpSelector = (op: ConstOpInfo) => boolean;

/** coremltools' default selector: weights of more than 2048 elements. */
export const defaultOpSelector: OpSelector = (op) => elementCount(op.shape) > 2048;

/** Per-name configs: `config` for every const weight the selector accepts, null for the rest. */
export function selectorConfig<C extends OpConfig>(
  model: MLModel,
  config: C,
  selector: OpSelector = defaultOpSelector,
): OptimizationConfig<C> {
  const opNameConfigs: Record<string, C | null> = {};
  for (const { model: nested } of modelTree(model.spec)) {
    if (nested.Type.case !== "mlProgram") continue;
    for (const { op } of allOperations(nested.Type.value)) {
      if (op.type !== "const") continue;
      const info = tensorTypeInfo(constValue(op)?.type);
      if (!info || info.shape.some((d) => d === null)) continue;
      const name = opName(op);
      const selected = selector({
        name,
        type: "const",
        dtype: info.dtype,
        shape: info.shape as number[],
      });
      opNameConfigs[name] = selected ? config : null;
    }
  }
  return { globalConfig: null, opNameConfigs };
}

export interface AffineQuantizeOptions {
  /** Default "linear_symmetric". */
  mode?: QuantizationMode;
  /** Default "int8". */
  dtype?: QuantizationDtype;
  opSelector?: OpSelector;
}

/** `affine_quantize_weights`: per-channel linear quantization of the selected weights. */
export async function affineQuantizeWeights(
  model: MLModel,
  options: AffineQuantizeOptions = {},
): Promise<MLModel> {
  const config = linearQuantizerConfig({
    mode: options.mode ?? "linear_symmetric",
    dtype: options.dtype ?? "int8",
    weightThreshold: 0,
  });
  return (await linearQuantizeWeights(model, selectorConfig(model, config, options.opSelector)))
    .model;
}

export interface LegacyPalettizeOptions {
  /** Required by kmeans and uniform. */
  nbits?: number;
  /** Default "kmeans". */
  mode?: PalettizationMode;
  opSelector?: OpSelector;
  /** Required by custom. */
  lutFunction?: LutFunction;
}

/** `palettize_weights` of compression_utils: one look-up table per selected weight. */
export async function palettizeWeights(
  model: MLModel,
  options: LegacyPalettizeOptions = {},
): Promise<MLModel> {
  const config = palettizerConfig({
    nbits: options.nbits,
    mode: options.mode ?? "kmeans",
    lutFunction: options.lutFunction,
    weightThreshold: 0,
  });
  return (await palettizeWithConfig(model, selectorConfig(model, config, options.opSelector)))
    .model;
}

export interface SparsifyOptions {
  /** Default "threshold_based" (case does not matter, as in coremltools). */
  mode?: string;
  /** threshold_based: magnitudes up to this become 0 (default 1e-12). */
  threshold?: number;
  /** percentile_based: the fraction of smallest magnitudes to zero (default 1). */
  targetPercentile?: number;
  opSelector?: OpSelector;
}

/** `sparsify_weights`: threshold or magnitude-percentile pruning of the selected weights. */
export async function sparsifyWeights(
  model: MLModel,
  options: SparsifyOptions = {},
): Promise<MLModel> {
  const mode = (options.mode ?? "threshold_based").toLowerCase();
  let config;
  if (mode === "threshold_based") {
    config = thresholdPrunerConfig({
      threshold: options.threshold ?? 1e-12,
      minimumSparsityPercentile: 0,
      weightThreshold: 0,
    });
  } else if (mode === "percentile_based") {
    config = magnitudePrunerConfig({
      targetSparsity: options.targetPercentile ?? 1,
      weightThreshold: 0,
    });
  } else {
    throw new ConfigError(
      `sparsify_weights: mode must be "threshold_based" or "percentile_based", not "${options.mode}"`,
    );
  }
  return (await pruneWeights(model, selectorConfig(model, config, options.opSelector))).model;
}

/** `decompress_weights`: every compressed weight back to a dense const. */
export function decompressWeights(model: MLModel): Promise<MLModel> {
  return decompressAll(model);
}
