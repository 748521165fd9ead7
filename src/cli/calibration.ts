/**
 * Data-aware compression from the command line (`--algorithm gptq`, `--algorithm
 * sensitive-kmeans`): the calibration options, and running a compression through
 * compressWithCalibration on the samples they name.
 */
import type { Command } from "commander";
import { compressWithCalibration, isDataAware } from "../calibrate/data-aware.js";
import type { OptimizationConfig } from "../config/optimization-config.js";
import type { MLModel } from "../format/model.js";
import type { CompressionOptions, CompressionResult } from "../passes/driver.js";
import { compressModel } from "../passes/registry.js";
import { randomSamples } from "../runtime/inputs.js";
import { Interpreter } from "../runtime/interpreter.js";
import { parseInteger } from "./flags.js";
import { parseTarget } from "../program/targets.js";
import { readInputsDir } from "./inputs.js";
import { passReport } from "./report.js";
import { withInterpreterPool } from "./run.js";
import { parseWorkers, runWrite, type OutputFlags } from "./write-command.js";

export interface CalibrationFlags {
  inputs?: string;
  samples: string;
  seed: string;
  sequential?: boolean;
}

const DEFAULT_SAMPLES = "16";

/** `--inputs`, `--samples`, `--seed`: the calibration data of data-aware algorithms. */
export function calibrationOptions(command: Command, algorithms: string): Command {
  return command
    .option(
      "--inputs <dir>",
      `${algorithms}: calibrate on a folder of <input>.npy or .raw files (or one folder per sample)`,
    )
    .option(
      "--samples <n>",
      `${algorithms}: seeded random calibration samples instead`,
      DEFAULT_SAMPLES,
    )
    .option("--seed <n>", "seed of the random samples (default: 0)", "0")
    .option(
      "--sequential",
      `${algorithms}: calibrate each layer on the outputs of the layers before it, already compressed (one calibration run per layer)`,
    );
}

/**
 * Compresses `model` by `config`, calibrating on the flags' samples first when a config is
 * data-aware (then the calibration runs and the compression share one pool of workers).
 */
export async function compressCalibrated(
  model: MLModel,
  config: OptimizationConfig,
  flags: Partial<CalibrationFlags>,
  options: CompressionOptions,
): Promise<CompressionResult> {
  if (!isDataAware(config)) return compressModel(model, config, options);
  const count = parseInteger(flags.samples ?? DEFAULT_SAMPLES, "--samples", 1);
  const seed = parseInteger(flags.seed ?? "0", "--seed");
  const { inputs } = await Interpreter.load(model);
  const samples = flags.inputs
    ? await readInputsDir(flags.inputs, inputs)
    : randomSamples(inputs, count, seed);
  return withInterpreterPool((pool) =>
    compressWithCalibration(model, config, samples, {
      ...options,
      sequential: flags.sequential,
      pool,
      onCalibrationProgress: options.onProgress,
    }),
  );
}

/** The flags quantize, palettize and prune share around their config. */
export interface CompressionFlags extends OutputFlags, Partial<CalibrationFlags> {
  target?: string;
  joint?: boolean;
  workers?: string;
  function?: string;
  config?: string;
}

/**
 * The action of quantize, palettize and prune: writes `input` compressed by `config` (calibrated
 * first when a config is data-aware) and reports it.
 */
export async function writeCompressed(
  command: string,
  input: string,
  flags: CompressionFlags,
  config: OptimizationConfig,
  verb?: string,
  otherInputs: (string | undefined)[] = [],
): Promise<void> {
  const raiseTarget = flags.target ? parseTarget(flags.target) : undefined;
  await runWrite({
    command,
    input,
    flags,
    otherInputs: [flags.config, flags.inputs, ...otherInputs],
    ...(verb && { verb }),
    work: async (model, onProgress) => {
      const result = await compressCalibrated(model, config, flags, {
        raiseTarget,
        joint: flags.joint,
        workers: parseWorkers(flags.workers),
        functionName: flags.function,
        onProgress,
      });
      return passReport(result);
    },
  });
}
