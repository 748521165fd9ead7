/**
 * A `quantize_weights` config with settings per layer (what `recipe` writes for neural
 * networks), in the shape of coremltools' `from_dict` configs:
 *
 *   config_type: quantize_weights        # optional
 *   global_config: { nbits: 8, mode: linear }   # optional: without it, only the named layers
 *   op_name_configs:                     # layer names
 *     conv1: { nbits: 8, mode: linear }
 *     conv10: { nbits: 4, mode: kmeans_lut, algorithm: sensitive-kmeans }   # needs calibration data
 *     fire9/squeeze1x1: null             # left alone
 */
import { FieldReader, inFile, parseConfigDict } from "../config/parse.js";
import { ConfigError } from "../errors.js";
import {
  NN_KMEANS_ALGORITHMS,
  NN_QUANTIZATION_MODES,
  type LayerQuantization,
  type NeuralKmeansAlgorithm,
  type NeuralQuantizationMode,
} from "./neural-quantize.js";

export const QUANTIZE_WEIGHTS_CONFIG = "quantize_weights";

export interface QuantizeWeightsConfig {
  /** The global settings, when given. */
  global?: LayerQuantization;
  /** Layers with their own settings. */
  layers: Record<string, LayerQuantization>;
  /** Layers to leave alone (named with `null`). */
  skip: string[];
}

/** Modes a file can name (custom_lut needs a function: API only). */
const FILE_MODES = NN_QUANTIZATION_MODES.filter((m) => m !== "custom_lut");

const isDict = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** One layer's `{ nbits, mode, algorithm }` (mode defaults to linear); errors name `path`. */
export function parseLayerQuantization(value: unknown, path: string): LayerQuantization {
  if (!isDict(value)) throw new ConfigError(`${path}: expected a mapping { nbits, mode } or null`);
  const fields = new FieldReader(value, path);
  if (fields.raw("nbits") === undefined) fields.fail("nbits", "required (16, or 1 to 8)");
  const nbits = fields.integer("nbits", 0, 1);
  if (nbits > 8 && nbits !== 16) fields.fail("nbits", `expected 16 or 1 to 8, got ${nbits}`);
  const mode = fields.oneOf<NeuralQuantizationMode>("mode", FILE_MODES, "linear");
  const algorithm =
    fields.raw("algorithm") === undefined
      ? undefined
      : fields.oneOf<NeuralKmeansAlgorithm>("algorithm", NN_KMEANS_ALGORITHMS, "sensitive-kmeans");
  if (algorithm && mode !== "kmeans_lut" && mode !== "kmeans") {
    fields.fail("algorithm", `${algorithm} needs mode kmeans_lut`);
  }
  fields.finish();
  return { nbits, mode, ...(algorithm && { algorithm }) };
}

/** A per-layer `quantize_weights` config from a dictionary. */
export function parseQuantizeWeightsConfig(dict: unknown): QuantizeWeightsConfig {
  if (!isDict(dict)) throw new ConfigError("expected a mapping at the top level");
  const top = new FieldReader(dict, "");
  const kind = top.raw("config_type");
  if (kind !== undefined && kind !== QUANTIZE_WEIGHTS_CONFIG) {
    top.fail("config_type", `expected ${QUANTIZE_WEIGHTS_CONFIG}, got ${JSON.stringify(kind)}`);
  }
  const global = top.raw("global_config");
  const config: QuantizeWeightsConfig = { layers: {}, skip: [] };
  if (global !== undefined && global !== null) {
    config.global = parseLayerQuantization(global, "global_config");
  }
  const entries = top.raw("op_name_configs") ?? {};
  if (!isDict(entries)) {
    throw new ConfigError("op_name_configs: expected a mapping from layer names to settings");
  }
  for (const [name, value] of Object.entries(entries)) {
    if (value === null) config.skip.push(name);
    else config.layers[name] = parseLayerQuantization(value, `op_name_configs.${name}`);
  }
  top.finish();
  if (!config.global && Object.keys(config.layers).length === 0) {
    throw new ConfigError("neither global_config nor op_name_configs names settings to apply");
  }
  return config;
}

/** Parses a config file's text (JSON when the name ends in .json, else YAML). */
export async function parseQuantizeWeightsText(
  text: string,
  fileName: string,
): Promise<QuantizeWeightsConfig> {
  const dict = await parseConfigDict(text, fileName);
  return inFile(fileName, () => parseQuantizeWeightsConfig(dict));
}
