import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { writeNpy } from "../../format/npy.js";
import type { Tensor, TypedArray } from "../../kernels/dtype.js";
import { loadRunner } from "../../runtime/runner.js";
import { formatTable } from "../format.js";
import { readStateAssignments, samplesFor } from "../inputs.js";
import { ConfigError } from "../../errors.js";
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
  /** Outputs of the last step. */
  outputs: Record<string, OutputSummary>;
  /** Stateful models: predictions run in sequence, and the states after the last one. */
  steps?: number;
  states?: Record<string, OutputSummary>;
}

interface PredictOptions {
  input?: string[];
  state?: string[];
  steps: string;
  function?: string;
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
    .option(
      "--state <name=file.npy>",
      "stateful models: a state's initial value (repeat per state; default: zeros)",
      collect,
    )
    .option(
      "--steps <n>",
      "predictions in sequence, keeping the states (random inputs: seed, seed+1, ...)",
      "1",
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
            ...(options.function && { functionName: options.function }),
          });
          const seed = parseInteger(options.seed, "--seed");
          const steps = parseInteger(options.steps, "--steps", 1);
          const states = interpreter.states ?? [];
          const state = states.length
            ? interpreter.newState?.(await readStateAssignments(options.state ?? [], states))
            : undefined;
          if ((options.state ?? []).length > 0 && !state) {
            throw new ConfigError("--state: the model has no states");
          }
          const start = performance.now();
          let outputs: Record<string, Tensor> = {};
          for (let step = 0; step < steps; step++) {
            // Given inputs are fed at every step; random ones change with the step.
            const [sample] = await samplesFor(
              options.input ?? [],
              interpreter.inputs,
              1,
              seed + step,
            );
            outputs = interpreter.predict(sample, { state });
          }
          const milliseconds = performance.now() - start;
          const result: PredictReport = {
            model: path,
            inputs: options.input?.length
              ? options.input.join(" ")
              : steps > 1
                ? `random (seeds ${seed}–${seed + steps - 1})`
                : `random (seed ${seed})`,
            milliseconds,
            outputs: {},
            ...(state && { steps, states: {} }),
          };
          for (const [name, tensor] of Object.entries(state?.tensors() ?? {})) {
            const summary = summarize(tensor);
            if (options.output) {
              summary.file = join(options.output, `state_${fileStem(name)}.npy`);
              const data = writeNpy(tensor);
              await writeAtomically(summary.file, (temp) => writeFile(temp, data));
            }
            result.states![name] = summary;
          }
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
  const stateRows = Object.entries(report.states ?? {}).map(([name, o]) => [
    name,
    `${o.dtype}[${o.shape.join(",")}]`,
    o.min!.toPrecision(5),
    o.max!.toPrecision(5),
    o.mean!.toPrecision(5),
    o.file ?? "",
  ]);
  const steps = report.steps ? `, ${report.steps} steps` : "";
  return [
    `${report.model}: inputs ${report.inputs}${steps}, ${report.milliseconds.toFixed(1)} ms`,
    formatTable(["output", "type", "min", "max", "mean", "file"], rows),
    ...(stateRows.length
      ? ["", formatTable(["state", "type", "min", "max", "mean", "file"], stateRows)]
      : []),
  ].join("\n");
}
