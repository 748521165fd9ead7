/**
 * Inference time per input of the CPU interpreter on the PyTorch-converted reference models in
 * ../shared/runtime (when present): the median of a few runs after a warm-up run.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "../src/format/model.js";
import { WorkerPool } from "../src/parallel/pool.js";
import { Interpreter } from "../src/runtime/interpreter.js";
import { randomSamples } from "../src/runtime/inputs.js";

const MODELS = [
  "mobilenet_v2_fp32",
  "mobilenet_v2_fp16",
  "tiny_transformer_fp32",
  "tiny_transformer_fp16",
];
const RUNS = 5;

/** Threads the pooled runs use: the calling thread plus one worker per other core. */
export const INFERENCE_THREADS = availableParallelism();

/**
 * Rows of [model, load time, median time per input on one thread, the same with worker threads];
 * empty without ../shared/runtime.
 */
export async function benchmarkInference(): Promise<string[][]> {
  const runtime = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/runtime");
  const rows: string[][] = [];
  const pool = new WorkerPool(INFERENCE_THREADS - 1);
  try {
    for (const name of MODELS) {
      const path = join(runtime, `${name}.mlpackage`);
      if (!existsSync(path)) continue;
      const model = await loadModel(path);
      try {
        const loadStart = performance.now();
        const interpreter = await Interpreter.load(model);
        const loadMs = performance.now() - loadStart;
        const pooled = await Interpreter.load(model, { pool });
        const [sample] = randomSamples(interpreter.inputs, 1, 0);
        rows.push([
          name,
          `${loadMs.toFixed(0)} ms`,
          `${medianMs(() => interpreter.predict(sample)).toFixed(1)} ms`,
          `${medianMs(() => pooled.predict(sample)).toFixed(1)} ms`,
        ]);
      } finally {
        await model.close();
      }
    }
  } finally {
    await pool.close();
  }
  return rows;
}

/** The median time of a few runs after a warm-up run. */
function medianMs(run: () => void): number {
  run();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[RUNS >> 1];
}
