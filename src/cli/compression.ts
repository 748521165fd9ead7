/**
 * What the compress commands (quantize, palettize, prune) share: load the input, compress it
 * with a progress bar, save atomically, measure sizes on disk and, with `--check N`, compare
 * the saved model's outputs with the input's.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { MLModel } from "../format/model.js";
import type { CompressionResult, WeightReport } from "../passes/driver.js";
import type { RewriteProgress } from "../program/rewriter.js";
import { checkResult, type CompareReport } from "./check.js";
import { createProgress } from "./progress.js";
import { checkOutput, withModel } from "./run.js";
import { modelKindOf } from "../format/output-path.js";

export interface CompressionRun {
  input: string;
  output: string;
  /** Other files or folders the command reads (config files, calibration data, ...). */
  otherInputs?: (string | undefined)[];
  /** Progress bar title. */
  title: string;
  quiet: boolean;
  /** `--check N`: seeded samples to compare the result with the input on. */
  checks?: number;
  compress(
    model: MLModel,
    onProgress: (progress: RewriteProgress) => void,
  ): Promise<CompressionResult>;
}

export interface CompressionOutcome {
  weights: WeightReport[];
  sizeBefore: number;
  sizeAfter: number;
  check?: CompareReport;
}

/** Bytes of a file, or of every file in a folder. */
async function diskSize(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await diskSize(join(path, entry));
  return total;
}

export async function runCompression(run: CompressionRun): Promise<CompressionOutcome> {
  await checkOutput(run.output, modelKindOf(run.output), [run.input, ...(run.otherInputs ?? [])]);
  const progress = createProgress(run.title, run.quiet);
  const { weights, check } = await withModel(run.input, async (model) => {
    const result = await run
      .compress(model, ({ done, total, name }) => progress.update(done, total, name))
      .finally(() => progress.stop());
    try {
      const check = await checkResult(
        { model, path: run.input },
        { model: result.model, path: run.output },
        run.checks,
      );
      await result.model.save(run.output);
      return { weights: result.weights, check };
    } finally {
      await result.model.close();
    }
  });
  return {
    weights,
    sizeBefore: await diskSize(run.input),
    sizeAfter: await diskSize(run.output),
    check,
  };
}
