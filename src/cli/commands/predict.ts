import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { writeNpy } from "../../format/npy.js";
import type { Tensor, TypedArray } from "../../kernels/dtype.js";
import { loadRunner } from "../../runtime/runner.js";
import { formatTable } from "../format.js";
import { samplesFor } from "../inputs.js";
import { collect, parseInteger, parseStage } from "../flags.js";
import { checkOutput, printJson, withInterpreterPool, withModel } from "../run.js";
import { writeAtomically } from "../../format/node-package.js";

export interface OutputSummary {
  shape: number[];
  dtype: string;
  /** Numeric outputs. */
  min?: number;
  max?: number;
  mean?: number;
  /** String outputs (a classifier's label): the values themselves. */
  values?: string[];
  /** Where the output was written, with -o. */
  file?: string;
}

export interface PredictReport {
  model: string;
  /** "random (seed N)" or the input files. */
  inputs: string;
  milliseconds: number;
  outputs: Record<string, OutputSummary>;
}

interface PredictOptions {
  input?: string[];
  output?: string;
  seed: string;
  stage?: string;
  json?: boolean;
}

export function registerPredict(program: Command): void {
  program
    .command("predict")
    .description("run an ML program or neural network on the CPU and show or save its outputs")
    .argument("<model>", ".mlpackage folder or .mlmodel file")
    .option("-i, --input <name=file.npy>", "an input tensor (repeat per input)", collect)
    .option("-o, --output <dir>", "write each output as <dir>/<name>.npy (float32)")
    .option(
      "--stage <n>",
      "for pipelines: run only this stage (default: the whole pipeline, when every stage can run)",
    )
    .option("--seed <n>", "seed of the random inputs used when no --input is given", "0")
    .option("--json", "print machine-readable JSON")
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize predict model.mlpackage
  coreml-optimize predict model.mlpackage -i image=photo.npy -o outputs/`,
    )
    .action(async (path: string, options: PredictOptions) => {
      if (options.output !== undefined) {
        await checkOutput(options.output, "folder", [path, ...inputFiles(options.input ?? [])]);
      }
      const report = await withInterpreterPool((pool) =>
        withModel(path, async (model) => {
          const interpreter = await loadRunner(model, {
            pipelineStage: parseStage(options.stage),
            pool,
          });
          const seed = parseInteger(options.seed, "--seed");
          const [sample] = await samplesFor(options.input ?? [], interpreter.inputs, 1, seed);
          const start = performance.now();
          const outputs = interpreter.predict(sample);
          const milliseconds = performance.now() - start;
          const result: PredictReport = {
            model: path,
            inputs: options.input?.length ? options.input.join(" ") : `random (seed ${seed})`,
            milliseconds,
            outputs: {},
          };
          for (const [name, tensor] of Object.entries(outputs)) {
            const summary = summarize(tensor);
            if (options.output) {
              // Labels go to a text file, one per line; numbers to .npy.
              const labels = tensor.dtype === "string";
              summary.file = join(options.output, `${fileStem(name)}.${labels ? "txt" : "npy"}`);
              const data = labels
                ? new TextEncoder().encode(`${(tensor.data as string[]).join("\n")}\n`)
                : writeNpy(tensor);
              await writeAtomically(summary.file, (temp) => writeFile(temp, data));
            }
            result.outputs[name] = summary;
          }
          return result;
        }),
      );
      if (options.json) printJson(report);
      else process.stdout.write(`${render(report)}\n`);
    });
}

/** The files named by `--input name=file.npy` options. */
function inputFiles(assignments: readonly string[]): string[] {
  return assignments.flatMap((a) => (a.includes("=") ? [a.slice(a.indexOf("=") + 1)] : []));
}

/**
 * A file name for an output: names are the model's, so anything that could leave the folder
 * or hide the file (separators, a leading dot) is replaced.
 */
function fileStem(name: string): string {
  const stem = name.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^\./, "_");
  return stem === "" ? "_" : stem;
}

function summarize(tensor: Tensor): OutputSummary {
  if (tensor.dtype === "string") {
    return { shape: [...tensor.shape], dtype: tensor.dtype, values: tensor.data as string[] };
  }
  const data = tensor.data as TypedArray;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of data) {
    const x = Number(v);
    min = Math.min(min, x);
    max = Math.max(max, x);
    sum += x;
  }
  return { shape: [...tensor.shape], dtype: tensor.dtype, min, max, mean: sum / data.length };
}

function render(report: PredictReport): string {
  const rows = Object.entries(report.outputs).map(([name, o]) => [
    name,
    `${o.dtype}[${o.shape.join(",")}]`,
    ...(o.values
      ? [o.values.join(" "), "", ""]
      : [o.min!.toPrecision(5), o.max!.toPrecision(5), o.mean!.toPrecision(5)]),
    o.file ?? "",
  ]);
  return [
    `${report.model}: inputs ${report.inputs}, ${report.milliseconds.toFixed(1)} ms`,
    formatTable(["output", "type", "min", "max", "mean", "file"], rows),
  ].join("\n");
}
