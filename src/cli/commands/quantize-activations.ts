/**
 * `coreml-optimize quantize-activations IN -o OUT`: 8-bit activation quantization calibrated on
 * sample inputs (coremltools' linear_quantize_activations).
 */
import type { Command } from "commander";
import {
  ACTIVATION_QUANTIZER,
  activationQuantizerConfig,
  loadConfigFile,
  type OpActivationLinearQuantizerConfig,
  type OptimizationConfig,
} from "../../config/index.js";
import {
  linearQuantizeActivations,
  type ActivationConfig,
} from "../../calibrate/activation-quantize.js";
import { parseTarget } from "../../program/targets.js";
import { randomSamples } from "../../runtime/inputs.js";
import { Interpreter } from "../../runtime/interpreter.js";
import { CHECK_OPTION, checkCount, checkResult, renderComparison } from "../check.js";
import { formatTable } from "../format.js";
import { parseCount, readInputsDir } from "../inputs.js";
import { createProgress } from "../progress.js";
import { checkOutput, printJson, withInterpreterPool, withModel } from "../run.js";
import { modelKindOf } from "../../format/output-path.js";

interface ActivationFlags {
  output: string;
  samples: string;
  inputs?: string;
  seed: string;
  mode?: string;
  dtype?: string;
  config?: string;
  target?: string;
  check?: string;
  json?: boolean;
  quiet?: boolean;
}

async function activationConfig(
  flags: ActivationFlags,
): Promise<OptimizationConfig<ActivationConfig>> {
  const options: Record<string, unknown> = {};
  if (flags.mode) options.mode = flags.mode;
  if (flags.dtype) options.dtype = flags.dtype;
  const flagged = (base: Partial<OpActivationLinearQuantizerConfig> = {}) =>
    activationQuantizerConfig(
      { ...base, ...options } as Partial<OpActivationLinearQuantizerConfig>,
      "options",
    );
  if (!flags.config) return { globalConfig: flagged() };
  const fromFile = (await loadConfigFile(flags.config)) as OptimizationConfig<ActivationConfig>;
  if (Object.keys(options).length === 0 || !fromFile.globalConfig) return fromFile;
  const { mode, dtype } = fromFile.globalConfig;
  return {
    ...fromFile,
    globalConfig: flagged({ mode, dtype: dtype as OpActivationLinearQuantizerConfig["dtype"] }),
  };
}

export function registerQuantizeActivations(program: Command): void {
  program
    .command("quantize-activations")
    .description(
      "Quantize activations to 8 bits, calibrated on sample inputs (coremltools' linear_quantize_activations; iOS17+).",
    )
    .argument("<input>", "ML program model (.mlpackage)")
    .requiredOption("-o, --output <path>", "where to write the quantized model")
    .option("--samples <n>", "number of seeded random calibration samples", "16")
    .option(
      "--inputs <dir>",
      "calibrate on a folder of <input>.npy or .raw files (or one folder per sample)",
    )
    .option("--seed <n>", "seed of the random samples", "0")
    .option("--mode <mode>", "linear_symmetric (default) or linear")
    .option("--dtype <dtype>", "int8 (default) or uint8")
    .option(
      "--config <file>",
      `${ACTIVATION_QUANTIZER} (or OpLinearQuantizerConfig) file (YAML or JSON, coremltools' shape)`,
    )
    .option("--target <target>", "raise the model to at least this target first (e.g. ios17)")
    .option(...CHECK_OPTION)
    .option("--json", "print the report as JSON")
    .option("-q, --quiet", "no progress bar")
    .action(async (input: string, flags: ActivationFlags) => {
      await checkOutput(flags.output, modelKindOf(flags.output), [
        input,
        flags.config,
        flags.inputs,
      ]);
      const checks = checkCount(flags.check);
      const count = parseCount(flags.samples, "--samples");
      const seed = parseCount(flags.seed, "--seed");
      const config = await activationConfig(flags);
      const raiseTarget = flags.target ? parseTarget(flags.target) : undefined;
      const progress = createProgress("calibrate", flags.quiet || flags.json);
      const { pairs, check } = await withModel(input, async (model) => {
        try {
          const { inputs } = await Interpreter.load(model);
          const samples = flags.inputs
            ? await readInputsDir(flags.inputs, inputs)
            : randomSamples(inputs, count, seed);
          const result = await withInterpreterPool((pool) =>
            linearQuantizeActivations(model, config, samples, {
              raiseTarget,
              pool,
              onProgress: ({ done, total }) => progress.update(done, total, `sample ${done}`),
            }),
          );
          try {
            const check = await checkResult(
              { model, path: input },
              { model: result.model, path: flags.output },
              checks,
            );
            await result.model.save(flags.output);
            return { pairs: result.pairs, check };
          } finally {
            await result.model.close();
          }
        } finally {
          progress.stop();
        }
      });
      if (flags.json) {
        printJson({ input, output: flags.output, pairs, check });
        return;
      }
      const rows = pairs.map((p) => [
        p.activation,
        p.dtype,
        p.scale.toPrecision(6),
        String(p.zeroPoint),
      ]);
      process.stdout.write(
        `${formatTable(["activation", "dtype", "scale", "zero point"], rows)}\n` +
          `${pairs.length} quantized activations; wrote ${flags.output}\n`,
      );
      if (check) process.stdout.write(`${renderComparison(check)}\n`);
    });
}
