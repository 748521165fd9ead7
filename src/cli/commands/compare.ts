import type { Command } from "commander";
import { compareModels } from "../../runtime/compare.js";
import { renderComparison, type CompareReport } from "../check.js";
import { loadRunner } from "../../runtime/runner.js";
import { readInputsDir, readStateAssignments, samplesFor } from "../inputs.js";
import { collect, parseCount, parseStage } from "../flags.js";
import { printJson, withInterpreterPool, withModel } from "../run.js";

interface CompareOptions {
  input: string[];
  state: string[];
  steps?: string;
  function?: string;
  samples: string;
  inputs?: string;
  seed: string;
  stage?: string;
  json?: boolean;
}

export function registerCompare(program: Command): void {
  program
    .command("compare")
    .description("run two models on the same inputs and measure how far their outputs differ")
    .argument("<reference>", "the reference model (e.g. the uncompressed one)")
    .argument("<candidate>", "the model to check against it")
    .option("-i, --input <name=file.npy>", "an input tensor (repeat per input)", collect, [])
    .option(
      "--inputs <dir>",
      "a folder of <input>.npy (or raw <input>.raw) files, or of one such folder per sample",
    )
    .option(
      "--samples <n>",
      "number of seeded random samples when no --input or --inputs is given",
      "4",
    )
    .option(
      "--stage <n>",
      "for pipelines: run only this stage (default: the whole pipeline, when every stage can run)",
    )
    .option("--seed <n>", "seed of the random inputs", "0")
    .option(
      "--state <name=file.npy>",
      "stateful models: a state's initial value (repeat per state; default: zeros)",
      collect,
      [],
    )
    .option(
      "--steps <n>",
      "stateful models: run n random samples in order as one sequence, each model keeping its states",
    )
    .option(
      "--function <name>",
      "the function of a multifunction model to run (default: its default)",
    )
    .option("--json", "print machine-readable JSON")
    .action(async (referencePath: string, candidatePath: string, options: CompareOptions) => {
      const count =
        options.steps !== undefined
          ? parseCount(options.steps, "--steps", 1)
          : parseCount(options.samples, "--samples");
      const seed = parseCount(options.seed, "--seed");
      const report = await withInterpreterPool((pool) =>
        withModel(referencePath, (reference) =>
          withModel(candidatePath, async (candidate): Promise<CompareReport> => {
            const load = {
              pipelineStage: parseStage(options.stage),
              pool,
              ...(options.function && { functionName: options.function }),
            };
            const { inputs, states = [] } = await loadRunner(reference, load);
            const samples = options.inputs
              ? await readInputsDir(options.inputs, inputs)
              : await samplesFor(options.input, inputs, count, seed);
            const initial = await readStateAssignments(options.state, states);
            const outputs = await compareModels(reference, candidate, samples, {
              ...load,
              states: initial,
            });
            return {
              reference: referencePath,
              candidate: candidatePath,
              samples: samples.length,
              outputs,
            };
          }),
        ),
      );
      if (options.json) printJson(report);
      else process.stdout.write(`${renderComparison(report)}\n`);
    });
}
