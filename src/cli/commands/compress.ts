/** `coreml-optimize compress`: several compression steps from one config file, in one run. */
import type { Command } from "commander";
import { loadStepsFile } from "../../config/file.js";
import { WorkerPool } from "../../parallel/pool.js";
import { compressInSteps } from "../../passes/compress-steps.js";
import { parseTarget } from "../../program/targets.js";
import { createProgress, type Progress } from "../progress.js";
import { compressionTable, float16Warnings } from "../report.js";
import { checkOutput, printJson, withModel } from "../run.js";
import { modelKindOf } from "../../format/output-path.js";

interface CompressFlags {
  output: string;
  config: string;
  target?: string;
  json?: boolean;
  quiet?: boolean;
}

export function registerCompress(program: Command): void {
  program
    .command("compress")
    .description(
      "apply a list of compression steps (prune, palettize, quantize; jointly or not) from a config file",
    )
    .argument("<input>", "model (.mlpackage)")
    .requiredOption("-o, --output <path>", "where to write the compressed model")
    .requiredOption(
      "--config <file>",
      "YAML or JSON: `steps:` a list of coremltools from_dict configs, each optionally with `joint_compression: true`",
    )
    .option("--target <target>", "raise the model to at least this target first (e.g. ios18)")
    .option("--json", "print every step's report as JSON")
    .option("-q, --quiet", "no progress bar")
    .action(async (input: string, flags: CompressFlags) => {
      await checkOutput(flags.output, modelKindOf(flags.output), [input, flags.config]);
      const steps = await loadStepsFile(flags.config);
      const raiseTarget = flags.target ? parseTarget(flags.target) : undefined;
      const quiet = flags.quiet || flags.json;
      const pool = new WorkerPool();
      let progress: Progress | undefined;
      try {
        const results = await withModel(input, async (model) => {
          const result = await compressInSteps(model, steps, {
            raiseTarget,
            pool,
            onStep: (index, pass) => {
              progress?.stop();
              progress = createProgress(`${index + 1}/${steps.length} ${pass}`, quiet);
            },
            onProgress: ({ done, total, name }) => progress?.update(done, total, name),
          });
          progress?.stop();
          try {
            await result.model.save(flags.output);
          } finally {
            await result.model.close();
          }
          return result.steps;
        });
        if (flags.json) {
          printJson({
            output: flags.output,
            steps: results.map(({ pass, weights }) => ({ pass, weights })),
          });
        } else {
          for (const [index, result] of results.entries()) {
            process.stdout.write(
              `step ${index + 1}: ${result.pass}\n${compressionTable(result)}\n${float16Warnings(result.weights)}\n`,
            );
          }
          process.stdout.write(`wrote ${flags.output}\n`);
        }
      } finally {
        progress?.stop();
        await pool.close();
      }
    });
}
