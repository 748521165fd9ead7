/** Shared plumbing of CLI commands: error reporting, model loading and saving. */
import { availableParallelism } from "node:os";
import { loadModel, type MLModel } from "../format/model.js";
import { validateProgram } from "../program/validate.js";
import { validateNeuralNetworks } from "../neural/validate.js";
import { checkOutputPath, type OutputKind } from "../format/output-path.js";
import { WorkerPool } from "../parallel/pool.js";

/** Loads a model, runs `work` on it and closes it whatever happens. */
export async function withModel<T>(path: string, work: (model: MLModel) => Promise<T>): Promise<T> {
  const model = await loadModel(path);
  try {
    // Bad models are refused here, with one clear line, before any work starts.
    await validateProgram(model);
    validateNeuralNetworks(model);
    return await work(model);
  } finally {
    await model.close();
  }
}

/**
 * Refuses, before any work is done, an output that would replace or land inside one of the
 * command's inputs, or replace anything but a model of its kind (format/output-path.ts).
 */
export async function checkOutput(
  output: string,
  kind: OutputKind,
  inputs: readonly (string | undefined)[],
): Promise<void> {
  await checkOutputPath(
    output,
    kind,
    inputs.filter((i): i is string => i !== undefined),
  );
}

/** JSON with infinities and NaN as the strings "inf", "-inf" and "nan" (JSON has none). */
function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) =>
      typeof v === "number" && !Number.isFinite(v)
        ? Number.isNaN(v)
          ? "nan"
          : v > 0
            ? "inf"
            : "-inf"
        : v,
    2,
  );
}

export function printJson(value: unknown): void {
  process.stdout.write(`${toJson(value)}\n`);
}

/**
 * Runs `work` with worker threads for the interpreter's large matrix products: one fewer than
 * the cores, since the calling thread computes a share too.
 */
export async function withInterpreterPool<T>(work: (pool: WorkerPool) => Promise<T>): Promise<T> {
  const pool = new WorkerPool(availableParallelism() - 1);
  try {
    return await work(pool);
  } finally {
    await pool.close();
  }
}
