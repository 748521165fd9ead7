/** `coreml-optimize quantize IN -o OUT`: linear quantization of a model's weights. */
import type { Command } from "commander";
import { LINEAR_QUANTIZER, linearQuantizerConfig } from "../../config/index.js";
import {
  outputOptions,
  targetOption,
  WORKERS_OPTION,
  FUNCTION_OPTION,
  type OutputFlags,
} from "../write-command.js";
import {
  collect,
  layeredConfig,
  parseInteger,
  parseNumber,
  parseSizes,
  withEntries,
} from "../flags.js";
import { calibrationOptions, writeCompressed, type CalibrationFlags } from "../calibration.js";

interface QuantizeFlags extends OutputFlags, CalibrationFlags {
  algorithm?: string;
  hessianDampening?: string;
  activationOrder?: boolean;
  function?: string;
  mode?: string;
  dtype?: string;
  granularity?: string;
  blockSize?: string;
  weightThreshold?: string;
  opType?: string[];
  opName?: string[];
  config?: string;
  target?: string;
  joint?: boolean;
  workers?: string;
}

/** The settings the flags give (each only when given, so a config file's stay otherwise). */
function flagged(flags: QuantizeFlags): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries({
      mode: flags.mode,
      dtype: flags.dtype,
      granularity: flags.granularity,
      blockSize: flags.blockSize && parseSizes(flags.blockSize, "--block-size"),
      weightThreshold:
        flags.weightThreshold && parseInteger(flags.weightThreshold, "--weight-threshold"),
      algorithm: flags.algorithm,
      hessianDampening:
        flags.hessianDampening && parseNumber(flags.hessianDampening, "--hessian-dampening"),
      useActivationOrder: flags.activationOrder,
    }).filter(([, value]) => value !== undefined),
  );
}

export function registerQuantize(program: Command): void {
  const command = program
    .command("quantize")
    .description("Quantize weights linearly to 8 or 4 bits (coremltools' linear_quantize_weights).")
    .argument("<input>", "model (.mlpackage)")
    .option("--mode <mode>", "linear_symmetric or linear (default: linear_symmetric)")
    .option("--dtype <dtype>", "int8, uint8, int4 or uint4 (default: int8)")
    .option("--granularity <g>", "per_tensor, per_channel or per_block (default: per_channel)")
    .option(
      "--block-size <n>",
      "per_block: block size along the input axis, or one per axis (e.g. 1,64)",
    )
    .option(
      "--weight-threshold <n>",
      "quantize only weights with more elements than this (default: 2048)",
    )
    .option("--op-type <T=spec>", "config for an op type: T=skip or T=key:value,...", collect)
    .option("--op-name <N=spec>", "config for one op: N=skip or N=key:value,...", collect)
    .option("--config <file>", `${LINEAR_QUANTIZER} file (YAML or JSON, coremltools' shape)`)
    .option(
      "--algorithm <a>",
      "rtn (round to nearest) or gptq (calibrated: error feedback through the inputs' Hessian)",
    )
    .option(
      "--hessian-dampening <x>",
      "gptq: added to the Hessian's diagonal, times its mean (default: 0.01)",
    )
    .option("--activation-order", "gptq: quantize the inputs of largest activation energy first");
  calibrationOptions(command, "gptq");
  targetOption(command, "iOS18 for 4-bit and per_block on older models")
    .option(
      "--joint",
      "joint compression (iOS18+): also quantize pruned weights' kept values and palettization tables",
    )
    .option(...WORKERS_OPTION)
    .option(...FUNCTION_OPTION);
  outputOptions(command, "quantized")
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize quantize model.mlpackage -o model-int8.mlpackage
  coreml-optimize quantize model.mlpackage -o model-int4.mlpackage --dtype int4 --granularity per_block --block-size 32
  coreml-optimize quantize model.mlpackage -o out.mlpackage --op-type gather=skip --config q.yaml
  coreml-optimize quantize model.mlpackage -o model-gptq.mlpackage --dtype int4 --algorithm gptq --inputs calib/`,
    )
    .action(async (input: string, flags: QuantizeFlags) => {
      const base = flagged(flags);
      const config = withEntries(
        await layeredConfig(flags.config, base, linearQuantizerConfig),
        flags,
        base,
        linearQuantizerConfig,
      );
      await writeCompressed("quantize", input, flags, config);
    });
}
