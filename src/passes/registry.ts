/**
 * The one table from config kind to the compression that applies it (torchao's config →
 * handler idea): `compress --config` steps and `compressModel` look compressions up here, so
 * adding a scheme is one config kind and one compressor.
 */
import { LINEAR_QUANTIZER } from "../config/linear-quantizer.js";
import {
  allConfigs,
  type OpConfig,
  type OptimizationConfig,
} from "../config/optimization-config.js";
import { PALETTIZER } from "../config/palettizer.js";
import { MAGNITUDE_PRUNER, THRESHOLD_PRUNER } from "../config/pruner.js";
import { ConfigError } from "../errors.js";
import type { MLModel } from "../format/ml-model.js";
import {
  compressWeights,
  type CompressionOptions,
  type CompressionResult,
  type WeightCompressor,
} from "./driver.js";
import { linearQuantizer } from "./linear-quantize.js";
import { palettizer } from "./palettize.js";
import { pruner } from "./prune.js";

export const COMPRESSORS: ReadonlyMap<string, WeightCompressor<OpConfig>> = new Map<
  string,
  WeightCompressor<never>
>([
  [LINEAR_QUANTIZER, linearQuantizer],
  [PALETTIZER, palettizer],
  [THRESHOLD_PRUNER, pruner],
  [MAGNITUDE_PRUNER, pruner],
]) as ReadonlyMap<string, WeightCompressor<OpConfig>>;

/** The compression that applies every config of `config` (one compression per call). */
export function compressorFor(
  config: OptimizationConfig,
  where = "config",
): WeightCompressor<OpConfig> {
  const kinds = [...new Set(allConfigs(config).map((c) => c.kind))];
  const compressors = new Set(kinds.map((kind) => COMPRESSORS.get(kind)));
  const [compressor] = compressors;
  if (kinds.length === 0 || compressors.size !== 1 || !compressor) {
    throw new ConfigError(
      `${where}: a config needs the settings of one compression (got ${kinds.join(", ") || "none"})`,
    );
  }
  return compressor;
}

/** Applies `config` with the compression its kind names. */
export function compressModel(
  model: MLModel,
  config: OptimizationConfig,
  options: CompressionOptions = {},
): Promise<CompressionResult> {
  return compressWeights(model, config, compressorFor(config), options);
}
