/**
 * Several compressions applied one after the other (e.g. prune, then quantize the kept values
 * jointly), written as a list of coremltools `from_dict` configs under `steps`.
 */
import { ConfigError } from "../errors.js";
import type { OptimizationConfig } from "./optimization-config.js";
import { inFile, parseConfigDict, parseOptimizationConfig } from "./parse.js";

export interface CompressionStep {
  config: OptimizationConfig;
  /** Compress what the previous step produced (coremltools' `joint_compression=True`). */
  joint: boolean;
}

const isDict = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** `{steps: [config, ...]}`, each config optionally with `joint_compression`; or one config. */
export function parseCompressionSteps(dict: unknown, source = "config"): CompressionStep[] {
  if (!isDict(dict)) throw new ConfigError(`${source}: expected a mapping at the top level`);
  if (!("steps" in dict)) return [{ config: parseOptimizationConfig(dict, source), joint: false }];
  const extra = Object.keys(dict).filter((key) => key !== "steps");
  if (extra.length > 0) throw new ConfigError(`${extra[0]}: unknown key beside "steps"`);
  const steps = dict.steps;
  if (!Array.isArray(steps) || steps.length === 0) {
    throw new ConfigError("steps: expected a non-empty list of configs");
  }
  return steps.map((step: unknown, index) => {
    const path = `steps[${index}]`;
    if (!isDict(step)) throw new ConfigError(`${path}: expected a config mapping`);
    const { joint_compression: joint = false, ...config } = step;
    if (typeof joint !== "boolean") {
      throw new ConfigError(`${path}.joint_compression: expected true or false`);
    }
    if (joint && index === 0) {
      throw new ConfigError(`${path}.joint_compression: the first step has nothing to join`);
    }
    try {
      return { config: parseOptimizationConfig(config, path), joint };
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(`${path}.${error.message}`);
      throw error;
    }
  });
}

/** Parses a steps file's text: JSON when `fileName` ends in `.json`, else YAML. */
export async function parseStepsText(text: string, fileName: string): Promise<CompressionStep[]> {
  const dict = await parseConfigDict(text, fileName);
  return inFile(fileName, () => parseCompressionSteps(dict, fileName));
}
