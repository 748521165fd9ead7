/** `coreml-optimize palettize IN -o OUT`: weights become look-up tables and indices. */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Command } from "commander";
import { PALETTIZER, palettizerConfig, type LutFunction } from "../../config/index.js";
import { ConfigError } from "../../errors.js";
import {
  outputOptions,
  targetOption,
  WORKERS_OPTION,
  FUNCTION_OPTION,
  type OutputFlags,
} from "../write-command.js";
import { collect, layeredConfig, parseInteger, withEntries } from "../flags.js";
import { calibrationOptions, writeCompressed, type CalibrationFlags } from "../calibration.js";

interface PalettizeFlags extends OutputFlags, CalibrationFlags {
  algorithm?: string;
  function?: string;
  mode?: string;
  nbits?: string;
  granularity?: string;
  groupSize?: string;
  channelAxis?: string;
  clusterDim?: string;
  perChannelScale?: boolean;
  lutFunction?: string;
  weightThreshold?: string;
  workers?: string;
  opType?: string[];
  opName?: string[];
  config?: string;
  target?: string;
  joint?: boolean;
}

/** The function a `--lut-function` module exports (as `default` or `lutFunction`). */
async function loadLutFunction(path: string): Promise<LutFunction> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`--lut-function ${path}: cannot load (${(error as Error).message})`);
  }
  const fn = module.lutFunction ?? module.default;
  if (typeof fn !== "function") {
    throw new ConfigError(`--lut-function ${path}: exports no function (default or lutFunction)`);
  }
  return fn as LutFunction;
}

/** The settings the flags give (each only when given, so a config file's stay otherwise). */
async function flagged(flags: PalettizeFlags): Promise<Record<string, unknown>> {
  const integer = (text: string | undefined, flag: string, min = 0) =>
    text === undefined ? undefined : parseInteger(text, flag, min);
  const lutFunction = flags.lutFunction ? await loadLutFunction(flags.lutFunction) : undefined;
  const settings: Record<string, unknown> = {
    mode: flags.mode ?? (lutFunction ? "custom" : undefined),
    nbits: integer(flags.nbits, "--nbits", 1),
    granularity: flags.granularity,
    groupSize: integer(flags.groupSize, "--group-size", 1),
    channelAxis: integer(flags.channelAxis, "--channel-axis", -8),
    clusterDim: integer(flags.clusterDim, "--cluster-dim", 1),
    enablePerChannelScale: flags.perChannelScale || undefined,
    weightThreshold: integer(flags.weightThreshold, "--weight-threshold"),
    lutFunction,
    algorithm: flags.algorithm,
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
}

export function registerPalettize(program: Command): void {
  const command = program
    .command("palettize")
    .description("Palettize weights into look-up tables (coremltools' palettize_weights).")
    .argument("<input>", "model (.mlpackage)")
    .option("--mode <mode>", "kmeans, uniform, unique or custom (default: kmeans)")
    .option("--nbits <n>", "bits per index: 1, 2, 3, 4, 6 or 8 (kmeans and uniform)")
    .option("--granularity <g>", "per_tensor or per_grouped_channel (default: per_tensor)")
    .option("--group-size <n>", "per_grouped_channel: channels sharing a table (default: 32)")
    .option("--channel-axis <n>", "per_grouped_channel: channel axis (default: the consumer's)")
    .option("--cluster-dim <n>", "vector palettization: values per table entry (default: 1)")
    .option("--per-channel-scale", "normalize channels by their largest magnitude first")
    .option("--lut-function <module.js>", "custom mode: a module exporting lutFunction(weights)")
    .option(
      "--weight-threshold <n>",
      "palettize only weights with more elements than this (default: 2048)",
    )
    .option("--op-type <T=spec>", "config for an op type: T=skip or T=key:value,...", collect)
    .option("--op-name <N=spec>", "config for one op: N=skip or N=key:value,...", collect)
    .option("--config <file>", `${PALETTIZER} file (YAML or JSON, coremltools' shape)`)
    .option(
      "--algorithm <a>",
      "kmeans, or sensitive-kmeans (calibrated: each weight's error weighed by its input's energy)",
    );
  calibrationOptions(command, "sensitive-kmeans");
  targetOption(command, "iOS18 for grouped, vector and scaled tables on older models")
    .option("--joint", "joint compression (iOS18+): palettize the kept values of pruned weights")
    .option(...WORKERS_OPTION)
    .option(...FUNCTION_OPTION);
  outputOptions(command, "palettized")
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize palettize model.mlpackage -o model-lut4.mlpackage --nbits 4
  coreml-optimize palettize model.mlpackage -o out.mlpackage --nbits 3 --granularity per_grouped_channel --group-size 16
  coreml-optimize palettize model.mlpackage -o out.mlpackage --mode unique
  coreml-optimize palettize model.mlpackage -o out.mlpackage --nbits 4 --algorithm sensitive-kmeans --inputs calib/`,
    )
    .action(async (input: string, flags: PalettizeFlags) => {
      const base = await flagged(flags);
      const config = withEntries(
        await layeredConfig(flags.config, base, palettizerConfig),
        flags,
        base,
        palettizerConfig,
      );
      await writeCompressed("palettize", input, flags, config, "palettized", [flags.lutFunction]);
    });
}
