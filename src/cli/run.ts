/** Shared plumbing of CLI commands: error reporting, model loading and saving. */
import { CoreMLOptimizeError } from "../errors.js";
import { availableParallelism } from "node:os";
import { loadModel, type MLModel } from "../format/model.js";
import { WorkerPool } from "../parallel/pool.js";

/**
 * Prints a user error as one line and exits 1; anything else is a bug, reported with its stack.
 */
export function reportFailure(error: unknown): never {
  if (error instanceof CoreMLOptimizeError) {
    process.stderr.write(`coreml-optimize: ${error.message}\n`);
  } else if (isSystemError(error)) {
    process.stderr.write(`coreml-optimize: ${error.path ?? ""}: ${error.message}\n`);
  } else {
    process.stderr.write(
      `coreml-optimize: internal error: ${(error as Error)?.stack ?? String(error)}\n`,
    );
  }
  process.exit(1);
}

function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return (
    error instanceof Error &&
    typeof (error as NodeJS.ErrnoException).code === "string" &&
    "syscall" in error
  );
}

/** Loads a model, runs `work` on it and closes it whatever happens. */
export async function withModel<T>(path: string, work: (model: MLModel) => Promise<T>): Promise<T> {
  const model = await loadModel(path);
  try {
    return await work(model);
  } finally {
    await model.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
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
