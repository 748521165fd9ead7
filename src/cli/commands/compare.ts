import type { Command } from "commander";
import { compareModels } from "../../runtime/compare.js";
import { renderComparison } from "../check.js";
import { loadRunner } from "../../runtime/runner.js";
import { readStateAssignments, sampleOptions, samplesFromFlags } from "../inputs.js";
import { collect, parseInteger, parseNumber, parseStage } from "../flags.js";
import { comparePerOp } from "../../analysis/per-op.js";
import { renderPerOp } from "../quality-report.js";
import { printJson, withInterpreterPool, withModel } from "../run.js";

interface CompareOptions {
  input?: string[];
  state?: string[];
  steps?: string;
  function?: string;
  samples: string;
  inputs?: string;
  seed: string;
  stage?: string;
  json?: boolean;
  data?: string[];
  limit?: string;
  perOp?: boolean;
  threshold: string;
}

export function registerCompare(program: Command): void {
  const command = program
    .command("compare")
    .description("run two models on the same inputs and measure how far their outputs differ")
    .argument("<reference>", "the reference model (e.g. the uncompressed one)")
    .argument("<candidate>", "the model to check against it");
  sampleOptions(command)
    .option(
      "--stage <n>",
      "for pipelines: run only this stage (default: the whole pipeline, when every stage can run)",
    )
    .option("--per-op", "compare every intermediate value both models compute (same name)")
    .option("--threshold <dB>", "with --per-op: flag the first value whose SNR is below this", "20")
    .option(
      "--state <name=file.npy>",
      "stateful models: a state's initial value (repeat per state; default: zeros)",
      collect,
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
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize compare model.mlpackage model-int4.mlpackage
  coreml-optimize compare model.mlpackage model-int4.mlpackage --samples 16 --seed 1
  coreml-optimize compare model.mlpackage model-int4.mlpackage --inputs calib/ --json
  coreml-optimize compare model.mlpackage model-2bit.mlpackage --per-op --data ids=windows.npy`,
    )
    .action(async (referencePath: string, candidatePath: string, options: CompareOptions) => {
      const thresholdDb = parseNumber(options.threshold, "--threshold");
      const steps =
        options.steps === undefined ? undefined : parseInteger(options.steps, "--steps", 1);
      const report = await withInterpreterPool((pool) =>
        withModel(referencePath, (reference) =>
          withModel(candidatePath, async (candidate) => {
            const load = {
              pipelineStage: parseStage(options.stage),
              pool,
              ...(options.function && { functionName: options.function }),
            };
            const { inputs, states = [] } = await loadRunner(reference, load);
            // --steps N: N random samples run in order as one sequence (states carried along).
            const sampleFlags = steps === undefined ? options : { ...options, samples: `${steps}` };
            const samples = await samplesFromFlags(sampleFlags, inputs);
            const names = { reference: referencePath, candidate: candidatePath };
            if (options.perOp) {
              const perOp = await comparePerOp(reference, candidate, samples, {
                ...load,
                thresholdDb,
              });
              return { perOp: { ...names, ...perOp } };
            }
            const initial = await readStateAssignments(options.state ?? [], states);
            const outputs = await compareModels(reference, candidate, samples, {
              ...load,
              states: initial,
            });
            return { outputs: { ...names, samples: samples.length, outputs } };
          }),
        ),
      );
      if (options.json) printJson(report.perOp ?? report.outputs);
      else if (report.perOp) process.stdout.write(`${renderPerOp(report.perOp)}\n`);
      else if (report.outputs) process.stdout.write(`${renderComparison(report.outputs)}\n`);
    });
}
