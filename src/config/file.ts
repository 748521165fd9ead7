/** Reading optimization config files from disk (Node). */
import { readFile } from "node:fs/promises";
import { ConfigError } from "../errors.js";
import type { OptimizationConfig } from "./optimization-config.js";
import { parseConfigText } from "./parse.js";
import { parseStepsText, type CompressionStep } from "./steps.js";

async function readConfigText(path: string): Promise<string> {
  return readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`${path}: cannot read config file (${error.code ?? error.message})`);
  });
}

/** Reads a config file: JSON (`.json`) or YAML (anything else). */
export async function loadConfigFile(path: string): Promise<OptimizationConfig> {
  return parseConfigText(await readConfigText(path), path);
}

/** Reads a file of compression steps (`steps: [...]`), or a single config as one step. */
export async function loadStepsFile(path: string): Promise<CompressionStep[]> {
  return parseStepsText(await readConfigText(path), path);
}
