/**
 * Reading flag values, one way for every command: numbers and counts with errors that name the
 * flag, repeatable options, per-op entries (`NAME=key:value,...`) and a config file under the
 * flags (the file's settings, with the flags given on the command line on top).
 */
import { loadConfigFile } from "../config/file.js";
import type { OpConfig, OptimizationConfig } from "../config/optimization-config.js";
import { FLAG_PATH } from "../config/parse.js";
import { ConfigError } from "../errors.js";

/** commander collector for a repeatable option. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A whole number of at least `min` (negative ones only when `min` allows them). */
export function parseInteger(text: string, flag: string, min = 0): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isInteger(value) || value < min) {
    throw new ConfigError(`${flag}: expected a whole number of at least ${min}, got "${text}"`);
  }
  return value;
}

export function parseNumber(text: string, flag: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new ConfigError(`${flag}: expected a number, got "${text}"`);
  }
  return value;
}

/** `32` or `1,64` (one entry per axis, split by `separator`). */
export function parseSizes(text: string, flag: string, separator = ","): number | number[] {
  const sizes = text.split(separator).map((part) => parseInteger(part, flag));
  return sizes.length === 1 ? sizes[0] : sizes;
}

/** The `--stage` option: which stage of a pipeline to run. */
export function parseStage(value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseInteger(value, "--stage");
}

/** An entry's value as the config field wants it: numbers, booleans and `a/b` lists typed. */
function entryValue(text: string): unknown {
  if (text === "true" || text === "false") return text === "true";
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(text)) return Number(text);
  if (/^\d+(\/\d+)+$/.test(text)) return text.split("/").map(Number);
  return text;
}

/** A `--op-type`/`--op-name` entry: `NAME=skip`, or `NAME=key:value,...` (snake_case keys). */
export function parseEntry(flag: string, text: string): [string, Record<string, unknown> | null] {
  const at = text.indexOf("=");
  if (at <= 0) throw new ConfigError(`${flag} ${text}: expected NAME=skip or NAME=key:value,...`);
  const name = text.slice(0, at);
  const spec = text.slice(at + 1).trim();
  if (spec === "skip" || spec === "none" || spec === "null") return [name, null];
  const fields: Record<string, unknown> = {};
  for (const pair of spec.split(",")) {
    const [key, value] = pair.split(":").map((s) => s.trim());
    if (!key || value === undefined) {
      throw new ConfigError(`${flag} ${text}: "${pair}" is not key:value`);
    }
    fields[key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = entryValue(value);
  }
  return [name, fields];
}

/** A config's settings as options again (without its kind), to layer flags on. */
function fieldsOf(config: OpConfig | null | undefined): Record<string, unknown> {
  if (!config) return {};
  const fields: Record<string, unknown> = { ...config };
  delete fields.kind;
  return fields;
}

/**
 * The config a command runs: the `--config` file's, if any, with the flags' settings on top of
 * its global config; `build` validates options into a config (errors name the flags).
 */
export async function layeredConfig<C extends OpConfig>(
  file: string | undefined,
  flagged: Record<string, unknown>,
  build: (options: Record<string, unknown>, path: string) => C,
): Promise<OptimizationConfig<C>> {
  if (!file) return { globalConfig: build(flagged, FLAG_PATH) };
  const fromFile = (await loadConfigFile(file)) as OptimizationConfig<C>;
  if (Object.keys(flagged).length === 0) return fromFile;
  return {
    ...fromFile,
    globalConfig: build({ ...fieldsOf(fromFile.globalConfig), ...flagged }, FLAG_PATH),
  };
}

/**
 * `--op-type` and `--op-name` entries layered on a config: each names a config for an op type or
 * an op (`NAME=skip` for none); fields it leaves out come from `base` (the flags' own settings).
 */
export function withEntries<C extends OpConfig>(
  config: OptimizationConfig<C>,
  entries: { opType?: readonly string[]; opName?: readonly string[] },
  base: Record<string, unknown>,
  build: (options: Record<string, unknown>, path: string) => C,
): OptimizationConfig<C> {
  const layer = (flag: string, texts: readonly string[], into: Record<string, C | null>) => {
    for (const text of texts) {
      const [name, fields] = parseEntry(flag, text);
      into[name] = fields === null ? null : build({ ...base, ...fields }, `${flag} ${name}`);
    }
    return into;
  };
  return {
    ...config,
    opTypeConfigs: layer("--op-type", entries.opType ?? [], { ...config.opTypeConfigs }),
    opNameConfigs: layer("--op-name", entries.opName ?? [], { ...config.opNameConfigs }),
  };
}
