import type { Command } from "commander";
import { compareModels } from "../../runtime/compare.js";
import { renderComparison, type CompareReport } from "../check.js";
import { loadRunner } from "../../runtime/runner.js";
import { readInputsDir, samplesFor } from "../inputs.js";
import { collect, parseInteger, parseStage } from "../flags.js";
import { printJson, withInterpreterPool, withModel } from "../run.js";

interface CompareOptions {
  input?: string[];
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
    .option("-i, --input <name=file.npy>", "an input tensor (repeat per input)", collect)
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
    .option("--json", "print machine-readable JSON")
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize compare model.mlpackage model-int4.mlpackage
  coreml-optimize compare model.mlpackage model-int4.mlpackage --samples 16 --seed 1
  coreml-optimize compare model.mlpackage model-int4.mlpackage --inputs calib/ --json`,
    )
    .action(async (referencePath: string, candidatePath: string, options: CompareOptions) => {
      const count = parseInteger(options.samples, "--samples", 1);
      const seed = parseInteger(options.seed, "--seed");
      const report = await withInterpreterPool((pool) =>
        withModel(referencePath, (reference) =>
          withModel(candidatePath, async (candidate): Promise<CompareReport> => {
            const load = { pipelineStage: parseStage(options.stage), pool };
            const { inputs } = await loadRunner(reference, load);
            const samples = options.inputs
              ? await readInputsDir(options.inputs, inputs)
              : await samplesFor(options.input ?? [], inputs, count, seed);
            const outputs = await compareModels(reference, candidate, samples, load);
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
