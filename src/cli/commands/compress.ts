/** `coreml-optimize compress IN -o OUT --config STEPS`: several compression steps in one run. */
import type { Command } from "commander";
import { weightErrors } from "../../analysis/weight-errors.js";
import { loadStepsFile } from "../../config/file.js";
import { compressInSteps, type StepResult } from "../../passes/compress-steps.js";
import { parseTarget } from "../../program/targets.js";
import type { MLModel } from "../../format/ml-model.js";
import {
  outputOptions,
  parseWorkers,
  runWrite,
  targetOption,
  WORKERS_OPTION,
  FUNCTION_OPTION,
  type OutputFlags,
} from "../write-command.js";
import {
  configObject,
  float16Advice,
  mergeAdvice,
  passSkips,
  type ReportedWeight,
} from "../report.js";
import type { ProgressCallback } from "../../progress.js";

interface CompressFlags extends OutputFlags {
  function?: string;
  config: string;
  target?: string;
  workers?: string;
}

/**
 * Each weight as the steps left it, against the input: its configs in step order, its size in
 * the input and in the result, and its SNR against the input's (not the previous step's).
 */
async function endToEnd(
  input: MLModel,
  result: MLModel,
  steps: readonly StepResult[],
): Promise<ReportedWeight[]> {
  // A weight is followed through the steps by the value its consumers read.
  const byValue = new Map<string, { name: string; shape: number[]; configs: object[] }>();
  for (const step of steps) {
    for (const w of step.weights) {
      const entry = byValue.get(w.source) ?? { name: w.name, shape: [...w.shape], configs: [] };
      entry.configs.push(configObject(w.config));
      byValue.delete(w.source);
      byValue.set(w.value, entry);
    }
  }
  const errors = new Map(
    (await weightErrors(input, result, new Set(byValue.keys()))).map((e) => [e.name, e]),
  );
  return [...byValue].map(([value, entry]) => {
    const error = errors.get(value);
    return {
      name: entry.name,
      shape: entry.shape,
      config:
        entry.configs.length === 1
          ? (entry.configs[0] as Record<string, unknown>)
          : { steps: entry.configs },
      bytesBefore: error?.sourceBytes ?? 0,
      bytesAfter: error?.storedBytes ?? 0,
      snrDb: error?.snrDb ?? null,
    };
  });
}

export function registerCompress(program: Command): void {
  const command = program
    .command("compress")
    .description(
      "Apply a list of compression steps (prune, palettize, quantize; jointly or not) from a config file.",
    )
    .argument("<input>", "model (.mlpackage)")
    .requiredOption(
      "--config <file>",
      "YAML or JSON: `steps:`, a list of coremltools from_dict configs, each optionally with `joint_compression: true` (required)",
    );
  targetOption(command, "iOS18 for joint compression of older models")
    .option(...WORKERS_OPTION)
    .option(...FUNCTION_OPTION);
  outputOptions(command, "compressed")
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize compress model.mlpackage -o out.mlpackage --config steps.yaml --target ios18

steps.yaml (prune, then quantize the kept values):
  steps:
    - config_type: OpMagnitudePrunerConfig
      global_config: { target_sparsity: 0.5 }
    - config_type: OpLinearQuantizerConfig
      global_config: { dtype: int8 }
      joint_compression: true`,
    )
    .action(async (input: string, flags: CompressFlags) => {
      const steps = await loadStepsFile(flags.config);
      const raiseTarget = flags.target ? parseTarget(flags.target) : undefined;
      await runWrite({
        command: "compress",
        input,
        flags,
        otherInputs: [flags.config],
        work: async (model, onProgress: ProgressCallback) => {
          const result = await compressInSteps(model, steps, {
            raiseTarget,
            workers: parseWorkers(flags.workers),
            functionName: flags.function,
            onProgress,
          });
          const compressed = new Set(result.steps.flatMap((s) => s.weights.map((w) => w.name)));
          // Left alone: what the first step left and no later step took.
          const skipped = (result.steps[0]?.skipped ?? []).filter((s) => !compressed.has(s.name));
          return {
            model: result.model,
            weights: await endToEnd(model, result.model, result.steps),
            skipped: passSkips(skipped),
            ...mergeAdvice(result.steps.map((step) => float16Advice(step.weights))),
            extra: {
              steps: result.steps.map((step) => ({
                pass: step.pass,
                compressed: step.weights.map((w) => w.name),
                skipped: passSkips(step.skipped),
              })),
            },
          };
        },
      });
    });
}
