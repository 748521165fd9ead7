/** Reading optimization config files from disk (Node). */
import { readRegularFile, regularFileSize } from "../format/user-files.js";
import { ConfigError } from "../errors.js";
import type { OptimizationConfig } from "./optimization-config.js";
import { inFile, parseConfigDict, parseOptimizationConfig } from "./parse.js";
import { parseStepsText, type CompressionStep } from "./steps.js";

/** Config files are a few kilobytes; a larger one is not a config. */
const CONFIG_LIMIT = 16 << 20;

async function readConfigText(path: string): Promise<string> {
  const size = await regularFileSize(path, { missing: "error" }).catch((error: Error) => {
    throw new ConfigError(error.message);
  });
  if (size! > CONFIG_LIMIT)
    throw new ConfigError(`${path}: ${size} bytes is too large for a config file`);
  return new TextDecoder().decode(await readRegularFile(path));
}

/** Reads a config file: JSON (`.json`) or YAML (anything else). */
export async function loadConfigFile(path: string): Promise<OptimizationConfig> {
  const text = await readConfigText(path);
  const dict = await parseConfigDict(text, path);
  if (typeof dict === "object" && dict !== null && "steps" in dict) {
    throw new ConfigError(
      `${path}: a list of steps: run it with \`coreml-optimize compress --config\``,
    );
  }
  return inFile(path, () => parseOptimizationConfig(dict, path));
}

/** Reads a file of compression steps (`steps: [...]`), or a single config as one step. */
export async function loadStepsFile(path: string): Promise<CompressionStep[]> {
  return parseStepsText(await readConfigText(path), path);
}
