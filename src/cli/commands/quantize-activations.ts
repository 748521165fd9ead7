/**
 * `coreml-optimize quantize-activations IN -o OUT`: 8-bit activation quantization calibrated on
 * sample inputs (coremltools' linear_quantize_activations).
 */
import type { Command } from "commander";
import {
  linearQuantizeActivations,
  type ActivationConfig,
} from "../../calibrate/activation-quantize.js";
import {
  ACTIVATION_QUANTIZER,
  activationQuantizerConfig,
  type OpActivationLinearQuantizerConfig,
  type OptimizationConfig,
} from "../../config/index.js";
import { parseTarget } from "../../program/targets.js";
import { randomSamples } from "../../runtime/inputs.js";
import { Interpreter } from "../../runtime/interpreter.js";
import { outputOptions, runWrite, targetOption, type OutputFlags } from "../write-command.js";
import { layeredConfig, parseInteger } from "../flags.js";
import { formatTable } from "../format.js";
import { readInputsDir } from "../inputs.js";
import { withInterpreterPool } from "../run.js";

interface ActivationFlags extends OutputFlags {
  samples: string;
  inputs?: string;
  seed: string;
  mode?: string;
  dtype?: string;
  config?: string;
  target?: string;
}

function activationConfig(flags: ActivationFlags): Promise<OptimizationConfig<ActivationConfig>> {
  const flagged = Object.fromEntries(
    Object.entries({ mode: flags.mode, dtype: flags.dtype }).filter(([, v]) => v !== undefined),
  );
  return layeredConfig(flags.config, flagged, (options, path) =>
    activationQuantizerConfig(options as Partial<OpActivationLinearQuantizerConfig>, path),
  ) as Promise<OptimizationConfig<ActivationConfig>>;
}

export function registerQuantizeActivations(program: Command): void {
  const command = program
    .command("quantize-activations")
    .description(
      "Quantize activations to 8 bits, calibrated on sample inputs (coremltools' linear_quantize_activations; iOS17+).",
    )
    .argument("<input>", "ML program model (.mlpackage)")
    .option("--samples <n>", "number of seeded random calibration samples (default: 16)", "16")
    .option(
      "--inputs <dir>",
      "calibrate on a folder of <input>.npy or .raw files (or one folder per sample)",
    )
    .option("--seed <n>", "seed of the random samples (default: 0)", "0")
    .option("--mode <mode>", "linear_symmetric or linear (default: linear_symmetric)")
    .option("--dtype <dtype>", "int8 or uint8 (default: int8)")
    .option(
      "--config <file>",
      `${ACTIVATION_QUANTIZER} (or OpLinearQuantizerConfig) file (YAML or JSON, coremltools' shape)`,
    );
  targetOption(command, "iOS17 for older models");
  outputOptions(command, "quantized")
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize quantize-activations model.mlpackage -o a8.mlpackage --samples 16 --target ios17 --check 16
  coreml-optimize quantize-activations model.mlpackage -o a8.mlpackage --inputs calib/ --target ios17`,
    )
    .action(async (input: string, flags: ActivationFlags) => {
      const count = parseInteger(flags.samples, "--samples", 1);
      const seed = parseInteger(flags.seed, "--seed");
      const config = await activationConfig(flags);
      const raiseTarget = flags.target ? parseTarget(flags.target) : undefined;
      await runWrite({
        command: "quantize-activations",
        input,
        flags,
        otherInputs: [flags.config, flags.inputs],
        verb: "quantized",
        title: "calibrate",
        work: async (model, onProgress) => {
          const { inputs } = await Interpreter.load(model);
          const samples = flags.inputs
            ? await readInputsDir(flags.inputs, inputs)
            : randomSamples(inputs, count, seed);
          const result = await withInterpreterPool((pool) =>
            linearQuantizeActivations(model, config, samples, { raiseTarget, pool, onProgress }),
          );
          const rows = result.pairs.map((p) => [
            p.activation,
            p.dtype,
            p.scale.toPrecision(6),
            String(p.zeroPoint),
          ]);
          return {
            model: result.model,
            weights: [],
            skipped: [],
            changed: result.pairs.length,
            extra: { activations: result.pairs },
            text:
              rows.length > 0
                ? `${formatTable(["activation", "dtype", "scale", "zero point"], rows)}\n` +
                  `quantized ${rows.length} activations\n`
                : "",
          };
        },
      });
    });
}
