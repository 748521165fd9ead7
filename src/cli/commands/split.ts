/**
 * `coreml-optimize split model.mlpackage -o parts/`: the model in two packages of about equal
 * weight bytes (coremltools' bisect_model), the second reading what the first computes.
 */
import { basename, join } from "node:path";
import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import type { Tensor } from "../../kernels/dtype.js";
import { splitModel } from "../../program/split.js";
import { compareOutputs } from "../../runtime/compare.js";
import { randomSamples } from "../../runtime/inputs.js";
import { loadRunner } from "../../runtime/runner.js";
import { renderComparison, type CompareReport } from "../check.js";
import { parseInteger } from "../flags.js";
import { formatBytes } from "../format.js";
import { checkOutput, printJson, withInterpreterPool, withModel } from "../run.js";

interface SplitFlags {
  output?: string;
  function?: string;
  check?: string;
  json?: boolean;
}

export function registerSplit(program: Command): void {
  program
    .command("split")
    .description(
      "Cut an ML program in two packages of about equal weight bytes (coremltools' bisect_model); the second reads what the first computes.",
    )
    .argument("<input>", "model (.mlpackage)")
    .option("-o, --output <dir>", "folder for <name>_part1.mlpackage and <name>_part2.mlpackage")
    .option("--function <name>", "the function to split (default: the default function)")
    .option("--check <n>", "run both halves in turn and the whole model on n random samples")
    .option("--json", "print the report as JSON")
    .addHelpText(
      "after",
      `
Example:
  coreml-optimize split llm-int4.mlpackage -o parts --check 2`,
    )
    .action(async (input: string, flags: SplitFlags) => {
      if (!flags.output) throw new ConfigError("split: -o DIR is required");
      const output = flags.output;
      await checkOutput(output, "folder", [input]);
      const checks = flags.check === undefined ? 0 : parseInteger(flags.check, "--check", 1);
      const stem = basename(input).replace(/\.mlpackage\/?$/, "");
      const paths = [1, 2].map((i) => join(output, `${stem}_part${i}.mlpackage`));
      const report = await withModel(input, async (model) => {
        const result = await splitModel(model, {
          ...(flags.function && { functionName: flags.function }),
        });
        try {
          const check = checks
            ? await withInterpreterPool(async (pool) => {
                const load = { pool, ...(flags.function && { functionName: flags.function }) };
                const whole = await loadRunner(model, load);
                const [first, second] = await Promise.all(
                  result.parts.map((part) => loadRunner(part)),
                );
                const samples = randomSamples(whole.inputs, checks, 0);
                const expected = samples.map((sample) => whole.predict(sample));
                const actual = samples.map((sample) => {
                  const middle = first.predict(pick(sample, first.inputs));
                  const end = second.predict(pick({ ...sample, ...middle }, second.inputs));
                  return { ...middle, ...end };
                });
                const outputs = compareOutputs(
                  expected,
                  actual.map((a, i) => pick(a, whole.outputs, expected[i])),
                );
                return {
                  reference: input,
                  candidate: "part 1 → part 2",
                  samples: checks,
                  outputs,
                } satisfies CompareReport;
              })
            : undefined;
          // A failed run takes back the parts already written (and a folder it made for them),
          // and puts back what they replaced: the CLI holds its outputs until it succeeds.
          for (const [i, part] of result.parts.entries()) await part.save(paths[i]);
          return {
            command: "split",
            input,
            outputs: paths,
            boundary: result.boundary,
            cutBefore: result.cutBefore,
            weightBytes: result.weightBytes,
            ...(check && { check }),
          };
        } finally {
          for (const part of result.parts) await part.close();
        }
      });
      if (flags.json) {
        printJson(report);
        return;
      }
      const lines = [
        `cut before ${report.cutBefore}; crossing: ${report.boundary.join(", ")}`,
        ...paths.map(
          (path, i) => `wrote ${path} (${formatBytes(report.weightBytes[i])} of weights)`,
        ),
      ];
      if (report.check) lines.unshift(renderComparison(report.check));
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}

/** The named values of `from` (falling back to `fallback`) that `wanted` lists. */
function pick(
  from: Record<string, Tensor>,
  wanted: readonly { name: string }[],
  fallback: Record<string, Tensor> = {},
): Record<string, Tensor> {
  return Object.fromEntries(wanted.map(({ name }) => [name, from[name] ?? fallback[name]]));
}
