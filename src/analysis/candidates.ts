/**
 * A candidates file for `sensitivity` and `recipe`: the configs to try on every weight, each a
 * coremltools op config with a label.
 *
 *   candidates:
 *     - { label: kmeans4/g16, config_type: OpPalettizerConfig, nbits: 4,
 *         granularity: per_grouped_channel, group_size: 16 }
 *     - { label: int8, config_type: OpLinearQuantizerConfig, dtype: int8 }
 *     - { label: lin6, config_type: quantize_weights, nbits: 6, mode: linear }  # networks
 */
import { inFile, parseConfigDict, parseOptimizationConfig } from "../config/parse.js";
import { ConfigError } from "../errors.js";
import {
  parseLayerQuantization,
  QUANTIZE_WEIGHTS_CONFIG,
} from "../passes/neural-quantize-config.js";
import { quantizeWeightsCandidate } from "./neural-sensitivity.js";
import type { Candidate } from "./sensitivity.js";

const isDict = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Candidates from a dictionary `{ candidates: [...] }` (coremltools field names). */
export function parseCandidates(dict: unknown): Candidate[] {
  const list = isDict(dict) ? dict.candidates : undefined;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError("candidates: expected a non-empty list of configs");
  }
  const labels = new Set<string>();
  return list.map((entry: unknown, i) => {
    const path = `candidates[${i}]`;
    if (!isDict(entry)) throw new ConfigError(`${path}: expected a config mapping`);
    const { label, config_type: kind, ...fields } = entry;
    if (typeof label !== "string" || label === "") {
      throw new ConfigError(`${path}.label: expected a name for the candidate`);
    }
    if (labels.has(label)) throw new ConfigError(`${path}.label: "${label}" is used twice`);
    labels.add(label);
    if (kind === QUANTIZE_WEIGHTS_CONFIG) {
      return { label, config: quantizeWeightsCandidate(parseLayerQuantization(fields, path)) };
    }
    try {
      const parsed = parseOptimizationConfig({ config_type: kind, global_config: fields }, path);
      return { label, config: parsed.globalConfig! };
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(`${path}: ${error.message}`);
      throw error;
    }
  });
}

/** Parses a candidates file's text (JSON when the name ends in .json, else YAML). */
export async function parseCandidatesText(text: string, fileName: string): Promise<Candidate[]> {
  const dict = await parseConfigDict(text, fileName);
  return inFile(fileName, () => parseCandidates(dict));
}
