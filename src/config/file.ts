/** Reading optimization config files from disk (Node). */
import { readFile } from "node:fs/promises";
import { ConfigError } from "../errors.js";
import type { OptimizationConfig } from "./optimization-config.js";
import { parseConfigText } from "./parse.js";

/** Reads a config file: JSON (`.json`) or YAML (anything else). */
export async function loadConfigFile(path: string): Promise<OptimizationConfig> {
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`${path}: cannot read config file (${error.code ?? error.message})`);
  });
  return parseConfigText(text, path);
}
