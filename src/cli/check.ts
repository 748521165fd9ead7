/**
 * Output comparisons for the CLI: the `compare` command's table, and `--check N` for commands
 * that produce a model (compare the result with its input on N seeded random samples).
 */
import type { MLModel } from "../format/model.js";
import { compareModels, type OutputComparison } from "../runtime/compare.js";
import { randomSamples } from "../runtime/inputs.js";
import type { LoadOptions } from "../runtime/interpreter.js";
import { loadRunner } from "../runtime/runner.js";
import { formatNumber, formatTable } from "./format.js";
import { withInterpreterPool } from "./run.js";

export interface CompareReport {
  reference: string;
  candidate: string;
  samples: number;
  outputs: OutputComparison[];
}

/** Compares `candidate` with `reference` on `count` seeded random samples. */
export async function checkAgainst(
  reference: MLModel,
  candidate: MLModel,
  count: number,
  names: { reference: string; candidate: string },
  options: LoadOptions = {},
): Promise<CompareReport> {
  const { inputs } = await loadRunner(reference, options);
  const outputs = await compareModels(
    reference,
    candidate,
    randomSamples(inputs, count, 0),
    options,
  );
  return { ...names, samples: count, outputs };
}

export function renderComparison(report: CompareReport): string {
  const percent = (v: number | undefined) => (v === undefined ? "" : `${(v * 100).toFixed(1)}%`);
  const rows = report.outputs.map((o) =>
    o.labels
      ? [o.name, "", "", "", "", "", percent(o.top1Agreement), ""]
      : [
          o.name,
          formatNumber(o.snrDb, 1),
          formatNumber(o.psnrDb, 1),
          o.cosine.toFixed(6),
          o.maxAbsError.toPrecision(4),
          o.mse.toPrecision(4),
          percent(o.top1Agreement),
          percent(o.top5Agreement),
        ],
  );
  const notes = report.outputs.flatMap(({ name, nonFinite }) =>
    nonFinite
      ? [
          `note: ${name}: ${nonFinite.candidate} candidate and ${nonFinite.reference} reference values are infinite or NaN (fp16 overflow?); the statistics cover the finite ones`,
        ]
      : [],
  );
  return [
    `${report.candidate} against ${report.reference}, ${report.samples} sample(s):`,
    formatTable(
      ["output", "SNR dB", "PSNR dB", "cosine", "max abs err", "MSE", "top-1", "top-5"],
      rows,
    ),
    ...notes,
  ].join("\n");
}

/**
 * `--check N` of the compress commands: the result against the input model, before the result
 * is saved, so a check that cannot run leaves no output behind.
 */
export async function checkResult(
  input: { model: MLModel; path: string },
  output: { model: MLModel; path: string },
  count: number | undefined,
): Promise<CompareReport | undefined> {
  if (!count) return undefined;
  const names = { reference: input.path, candidate: output.path };
  return withInterpreterPool((pool) =>
    checkAgainst(input.model, output.model, count, names, { pool }),
  );
}
