/**
 * Data-aware compression measured by task quality on ../shared/eval/bytelm: perplexity of the
 * byte LM on its 64 held-out windows after round-to-nearest vs GPTQ quantization and plain vs
 * sensitive k-means palettization of the 17 linear weights, calibrated on the 32 training
 * windows, GPTQ also sequentially (each layer calibrated on the compressed layers before it).
 * Run: npm run build && node dist/bench/data-aware.js [variant-substring...]
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { compressWithCalibration } from "../src/calibrate/data-aware.js";
import { collectInputStatistics } from "../src/calibrate/statistics.js";
import { linearQuantizerConfig } from "../src/config/linear-quantizer.js";
import type { OpConfig, OptimizationConfig } from "../src/config/optimization-config.js";
import { palettizerConfig } from "../src/config/palettizer.js";
import type { Tensor } from "../src/kernels/dtype.js";
import { readNpy } from "../src/format/npy.js";
import { loadModel, type MLModel } from "../src/format/model.js";
import { createDefaultPool } from "../src/parallel/default-pool.js";
import { Interpreter } from "../src/runtime/interpreter.js";

const DIR = new URL("../../../shared/eval/bytelm/", import.meta.url).pathname;
const WINDOW = 128;

async function windows(file: string): Promise<Tensor[]> {
  const ids = readNpy(new Uint8Array(await readFile(join(DIR, file))), file);
  const count = ids.shape[0];
  return Array.from({ length: count }, (_, w) => ({
    dtype: "int32",
    shape: [1, WINDOW],
    data: Int32Array.from((ids.data as Int32Array).subarray(w * WINDOW, (w + 1) * WINDOW)),
  }));
}

/** exp(mean over windows and positions 0..126 of −log softmax(logits[t])[ids[t+1]]). */
async function perplexity(model: MLModel, evalWindows: Tensor[]): Promise<number> {
  const interpreter = await Interpreter.load(model);
  let total = 0;
  let count = 0;
  for (const ids of evalWindows) {
    const logits = interpreter.predict({ ids }).logits.data as Float32Array;
    const vocab = logits.length / WINDOW;
    for (let t = 0; t < WINDOW - 1; t++) {
      const row = logits.subarray(t * vocab, (t + 1) * vocab);
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      total += Math.log(sum) + max - row[(ids.data as Int32Array)[t + 1]];
      count++;
    }
  }
  return Math.exp(total / count);
}

/** The config applied to linear weights only (the reference's RTN rows do the same). */
const linearOnly = (config: OpConfig): OptimizationConfig => ({
  opTypeConfigs: { linear: config },
});

const int4 = (granularity: "per_channel" | "per_block", algorithm?: "gptq") =>
  linearQuantizerConfig({
    dtype: "int4",
    granularity,
    blockSize: 32,
    ...(algorithm && { algorithm }),
  });
const lut = (nbits: number, algorithm?: "sensitive-kmeans" | "gptq-kmeans") =>
  palettizerConfig({ mode: "kmeans", nbits, ...(algorithm && { algorithm }) });

/** Name, config, and whether calibration is sequential (layer by layer, see sequential.ts). */
const VARIANTS: [string, OpConfig, boolean?][] = [
  ["rtn int4 per_channel", int4("per_channel")],
  ["gptq int4 per_channel", int4("per_channel", "gptq")],
  ["sequential gptq int4 per_channel", int4("per_channel", "gptq"), true],
  ["rtn int4 per_block32", int4("per_block")],
  ["gptq int4 per_block32", int4("per_block", "gptq")],
  ["sequential gptq int4 per_block32", int4("per_block", "gptq"), true],
  ["kmeans 4-bit", lut(4)],
  ["sensitive-kmeans 4-bit", lut(4, "sensitive-kmeans")],
  ["kmeans 3-bit", lut(3)],
  ["sensitive-kmeans 3-bit", lut(3, "sensitive-kmeans")],
  ["gptq-kmeans 4-bit", lut(4, "gptq-kmeans")],
  ["gptq-kmeans 3-bit", lut(3, "gptq-kmeans")],
];

const filters = process.argv.slice(2);
const model = await loadModel(join(DIR, "bytelm_fp32.mlpackage"));
const calibration = (await windows("calib_ids.npy")).map((ids) => ({ ids }));
const evalWindows = await windows("eval_ids.npy");
const pool = createDefaultPool(2)!;
try {
  // Wall time, and CPU time of every thread (on a busy machine the wall time is what is left).
  const timed = async (work: () => Promise<unknown>) => {
    const [wall, cpu] = [performance.now(), process.cpuUsage()];
    await work();
    const used = process.cpuUsage(cpu);
    return `${((performance.now() - wall) / 1000).toFixed(1)} s (CPU ${((used.user + used.system) / 1e6).toFixed(1)} s)`;
  };
  const gram = await timed(() => collectInputStatistics(model, calibration, { gram: true, pool }));
  const diagonal = await timed(() => collectInputStatistics(model, calibration, { pool }));
  console.log(
    `calibration on ${calibration.length} windows: ${gram} with Gram matrices, ${diagonal} diagonals only`,
  );
  let start = performance.now();
  const float = await perplexity(model, evalWindows);
  console.log(`| variant | perplexity | vs float | seconds |`);
  console.log(`|---|---|---|---|`);
  console.log(`| float32 | ${float.toFixed(4)} | | |`);
  for (const [name, config, sequential] of VARIANTS) {
    if (filters.length > 0 && !filters.some((f) => name.includes(f))) continue;
    start = performance.now();
    const result = await compressWithCalibration(model, linearOnly(config), calibration, {
      pool,
      sequential,
    });
    const seconds = (performance.now() - start) / 1000;
    const fallbacks = result.weights.filter((w) => w.fallback).length;
    // Sensitive k-means: how many weights took each exponent α of their input energies.
    const exponents = new Map<number, number>();
    for (const { importanceExponent: a } of result.weights)
      if (a !== undefined) exponents.set(a, (exponents.get(a) ?? 0) + 1);
    const ppl = await perplexity(result.model, evalWindows);
    const delta = ((ppl / float - 1) * 100).toFixed(2);
    console.log(
      `| ${name} | ${ppl.toFixed(4)} | ${delta.startsWith("-") ? "" : "+"}${delta}% | ${seconds.toFixed(1)} |` +
        (fallbacks > 0 ? ` (${fallbacks} fallbacks)` : "") +
        (exponents.size > 0
          ? ` (α: ${[...exponents].map(([a, n]) => `${n}× ${a}`).join(", ")})`
          : ""),
    );
    await result.model.close();
  }
} finally {
  await pool.close();
}
