/**
 * CPU inference side by side with onnxruntime-node: the same networks, from the same weights
 * (converted to ONNX by ./onnx.ts), run through onnxruntime (CPU, 2 intra-op threads) and
 * through our interpreter (the calling thread plus one worker) in one process, alternating
 * runs so both see the same machine. Networks: mobilenet_v2 at 224×224 and the trained byte
 * LM of ../shared/eval (when ../shared is present; the LM over its 64 evaluation windows, with
 * both runtimes' perplexities), ResNet-18 at 160×160 with seeded random weights. Then the same
 * on one thread each in CPU time (what each computes, less sensitive to other processes on a
 * shared machine), our runtime alone against its plain JavaScript kernels (how it ran before
 * the SIMD kernels) on the smaller reference models, and `quantize-activations` on
 * mobilenet_v2.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { formatTable } from "../src/cli/format.js";
import type { Tensor } from "../src/kernels/dtype.js";
import { readNpy } from "../src/format/npy.js";
import { loadModel, type MLModel } from "../src/format/model.js";
import { WorkerPool } from "../src/parallel/pool.js";
import { randomSamples } from "../src/runtime/inputs.js";
import { Interpreter } from "../src/runtime/interpreter.js";
import { programToOnnx } from "./onnx.js";
import { loadOnnxRuntime, ONNXRUNTIME_VERSION, type OnnxRuntime } from "./onnxruntime.js";
import { resnet18 } from "./resnet.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SHARED = resolve(ROOT, "../shared");
/** Threads on each side: onnxruntime's intra-op threads; our calling thread plus workers. */
const THREADS = 2;
/** Timed runs per network and runtime, after a warm-up; each run is `inputs` predictions. */
const RUNS = 3;
/**
 * Timed runs of each runtime side by side, alternating. The ratio is the median of each pair's
 * (a run of ours over the run of onnxruntime just before it): this virtual machine's speed
 * drifts by up to half over seconds (one thread alone: 16 to 24 ms per mobilenet_v2 image
 * from one run to the next), and a pair sees the same machine where two medians may not.
 */
const PAIRED_RUNS = 7;
/**
 * Pause before each timed run, so the other runtime's idle threads have settled: after a run,
 * onnxruntime's intra-op threads spin for about 0.1 s (measured: its CPU time keeps growing
 * that long), on the cores our threads then need; our threads poll 0.2 ms before sleeping.
 */
const SETTLE_MS = 200;

/** One network to time: its model, its inputs, and what to report besides time. */
interface Network {
  name: string;
  model: () => Promise<MLModel>;
  /** The inputs of one timed run. */
  inputs: (interpreter: Interpreter) => Record<string, Tensor>[];
  /** A summary of one run's outputs (e.g. the perplexity), for both runtimes. */
  score?: (
    inputs: Record<string, Tensor>[],
    outputs: Record<string, ArrayLike<number>>[],
  ) => string;
}

function networks(): Network[] {
  const list: Network[] = [];
  const mobilenet = join(SHARED, "runtime/mobilenet_v2_fp32.mlpackage");
  if (existsSync(mobilenet)) {
    list.push({
      name: "mobilenet_v2 fp32, 224×224",
      model: () => loadModel(mobilenet),
      inputs: (interpreter) => randomSamples(interpreter.inputs, 8, 1),
    });
  }
  list.push({
    name: "resnet18 fp32, 160×160 (random weights)",
    model: () => resnet18(160),
    inputs: (interpreter) => randomSamples(interpreter.inputs, 4, 1),
  });
  const bytelm = join(SHARED, "eval/bytelm");
  if (existsSync(bytelm)) {
    const ids = readNpy(readFileSync(join(bytelm, "eval_ids.npy")));
    const [windows, length] = ids.shape;
    list.push({
      name: `byte LM fp32, ${length} tokens (${windows} eval windows)`,
      model: () => loadModel(join(bytelm, "bytelm_fp32.mlpackage")),
      inputs: () =>
        Array.from({ length: windows }, (_, w) => ({
          ids: {
            dtype: "int32",
            shape: [1, length],
            data: Int32Array.from((ids.data as Int32Array).subarray(w * length, (w + 1) * length)),
          },
        })),
      score: (inputs, outputs) => `perplexity ${perplexity(inputs, outputs).toFixed(4)}`,
    });
  }
  return list;
}

/**
 * The byte LM's perplexity (../shared/eval/README.md): the mean over windows and positions
 * t < 127 of −log softmax(logits[t])[ids[t + 1]], exponentiated.
 */
function perplexity(
  inputs: Record<string, Tensor>[],
  outputs: Record<string, ArrayLike<number>>[],
): number {
  let total = 0;
  inputs.forEach((input, w) => {
    const ids = input.ids.data as Int32Array;
    const logits = outputs[w].logits;
    const vocabulary = logits.length / ids.length;
    let loss = 0;
    for (let t = 0; t + 1 < ids.length; t++) {
      let max = -Infinity;
      for (let v = 0; v < vocabulary; v++) max = Math.max(max, logits[t * vocabulary + v]);
      let sum = 0;
      for (let v = 0; v < vocabulary; v++) sum += Math.exp(logits[t * vocabulary + v] - max);
      loss += Math.log(sum) + max - logits[t * vocabulary + ids[t + 1]];
    }
    total += loss / (ids.length - 1);
  });
  return Math.exp(total / inputs.length);
}

/** Milliseconds per input of one run (wall time, or CPU time of all threads), its outputs. */
async function timeRun<T>(
  inputs: Record<string, Tensor>[],
  predict: (input: Record<string, Tensor>) => Promise<T> | T,
  clock: "wall" | "cpu" = "wall",
): Promise<{ ms: number; outputs: T[] }> {
  const outputs: T[] = [];
  const start = performance.now();
  const cpu = process.cpuUsage();
  for (const input of inputs) outputs.push(await predict(input));
  const used = process.cpuUsage(cpu);
  const ms = clock === "wall" ? performance.now() - start : (used.user + used.system) / 1000;
  return { ms: ms / inputs.length, outputs };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const ms = (value: number) => `${value.toFixed(1)} ms`;
const range = (values: number[]) =>
  `${ms(median(values))} (${Math.min(...values).toFixed(1)}–${Math.max(...values).toFixed(1)})`;

/** How a side-by-side table measures: threads on each side, and wall or CPU time. */
interface Setting {
  threads: number;
  clock: "wall" | "cpu";
  pool?: WorkerPool;
}

/** Rows of a side-by-side table (onnxruntime absent: our times only). */
async function sideBySide(ort: OnnxRuntime | undefined, setting: Setting): Promise<string[][]> {
  const rows: string[][] = [];
  for (const network of networks()) {
    const model = await network.model();
    try {
      const interpreter = await Interpreter.load(model, { pool: setting.pool });
      const inputs = network.inputs(interpreter);
      const session =
        ort &&
        (await ort.InferenceSession.create(await programToOnnx(model), {
          intraOpNumThreads: setting.threads,
          interOpNumThreads: 1,
          executionMode: "sequential",
        }));
      const runOnnx = (input: Record<string, Tensor>) => {
        const feeds: Record<string, unknown> = {};
        for (const [name, t] of Object.entries(input)) {
          const type = t.dtype === "int32" ? "int32" : "float32";
          feeds[name] = new ort!.Tensor(type, t.data as Float32Array | Int32Array, [...t.shape]);
        }
        return session!.run(feeds).then((out) => {
          const values: Record<string, ArrayLike<number>> = {};
          for (const [name, tensor] of Object.entries(out)) values[name] = tensor.data;
          return values;
        });
      };
      const runOurs = (input: Record<string, Tensor>) => {
        const values: Record<string, ArrayLike<number>> = {};
        for (const [name, t] of Object.entries(interpreter.predict(input))) {
          values[name] = t.data as Float32Array;
        }
        return values;
      };
      // Warm-up: one input each (weights packed, threads started, sessions initialized).
      await runOurs(inputs[0]);
      if (session) await runOnnx(inputs[0]);
      const ours: number[] = [];
      const theirs: number[] = [];
      let scores = ["", ""];
      const settle = () => new Promise((done) => setTimeout(done, SETTLE_MS));
      for (let run = 0; run < PAIRED_RUNS; run++) {
        if (session) {
          await settle();
          const timed = await timeRun(inputs, runOnnx, setting.clock);
          theirs.push(timed.ms);
          if (run === 0) scores[1] = network.score?.(inputs, timed.outputs) ?? "";
        }
        await settle();
        const timed = await timeRun(inputs, runOurs, setting.clock);
        ours.push(timed.ms);
        if (run === 0) scores[0] = network.score?.(inputs, timed.outputs) ?? "";
      }
      scores = scores.filter(Boolean);
      rows.push([
        network.name,
        session ? range(theirs) : "—",
        range(ours),
        session ? `${median(ours.map((t, run) => t / theirs[run])).toFixed(2)}×` : "—",
        scores.length === 2 ? `ours ${scores[0]}, onnxruntime ${scores[1]}` : (scores[0] ?? ""),
      ]);
    } finally {
      await model.close();
    }
  }
  return rows;
}

/**
 * Our runtime with its fast kernels against the plain JavaScript ones (the reference path, how
 * it ran before): CPU time per input on one thread.
 */
async function againstReference(): Promise<string[][]> {
  const rows: string[][] = [];
  for (const name of [
    "tiny_transformer_fp32",
    "tiny_transformer_fp16",
    "tiny_lstm_fp32",
    "tiny_lstm_fp16",
    "mobilenet_v2_fp16",
  ]) {
    const path = join(SHARED, "runtime", `${name}.mlpackage`);
    if (!existsSync(path)) continue;
    const model = await loadModel(path);
    try {
      const fast = await Interpreter.load(model);
      const reference = await Interpreter.load(model, { reference: true });
      const inputs = randomSamples(fast.inputs, 8, 1);
      const times = [reference, fast].map(() => [] as number[]);
      for (const interpreter of [reference, fast]) interpreter.predict(inputs[0]);
      for (let run = 0; run < RUNS; run++) {
        for (const [i, interpreter] of [reference, fast].entries()) {
          const timed = await timeRun(inputs, (input) => interpreter.predict(input), "cpu");
          times[i].push(timed.ms);
        }
      }
      rows.push([name, range(times[0]), range(times[1])]);
    } finally {
      await model.close();
    }
  }
  return rows;
}

/** CPU seconds of this process's finished children (Linux: /proc), or undefined. */
function childrenCpuSeconds(): number | undefined {
  try {
    // Fields 16 and 17 (cutime, cstime) after the command name, in clock ticks (100 per s).
    const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Wall and CPU time (all threads) of `quantize-activations` on mobilenet_v2 (16 calibration +
 * 16 check samples; the model targets iOS16, so it is raised to iOS17 as the command asks).
 */
function quantizeActivationsSeconds(): { wall: number; cpu?: number } | undefined {
  const input = join(SHARED, "runtime/mobilenet_v2_fp32.mlpackage");
  if (!existsSync(input)) return undefined;
  const work = mkdtempSync(join(tmpdir(), "coreml-optimize-bench-"));
  try {
    const start = performance.now();
    const cpuBefore = childrenCpuSeconds();
    execFileSync(
      process.execPath,
      [
        join(ROOT, "dist/src/cli/main.js"),
        "quantize-activations",
        input,
        "-o",
        join(work, "a8.mlpackage"),
        "--samples",
        "16",
        "--check",
        "16",
        "--target",
        "ios17",
      ],
      { stdio: "ignore" },
    );
    const cpuAfter = childrenCpuSeconds();
    const cpu =
      cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
    return { wall: (performance.now() - start) / 1000, cpu };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Prints the inference tables. */
export async function benchmarkInference(): Promise<void> {
  const ort = loadOnnxRuntime();
  const available = typeof ort === "string" ? undefined : ort;
  if (typeof ort === "string") process.stdout.write(`${ort}: our runtime alone below\n`);
  const pool = new WorkerPool(THREADS - 1);
  const headers = (what: string) => [
    "network",
    `onnxruntime-node ${ONNXRUNTIME_VERSION}`,
    "coreml-optimize",
    "ratio",
    what,
  ];
  try {
    const rows = await sideBySide(available, { threads: THREADS, clock: "wall", pool });
    process.stdout.write(
      `\nCPU inference, ms per input (median of ${PAIRED_RUNS} runs, range; ratio: median of the runs' ratios), ${THREADS} threads each:\n` +
        formatTable(headers(""), rows) +
        "\n",
    );
    // CPU time on one thread each: what each runtime computes, less sensitive to a busy machine.
    const work = await sideBySide(available, { threads: 1, clock: "cpu" });
    process.stdout.write(
      `\nCPU time per input on one thread each, ms (median of ${PAIRED_RUNS} runs, range; ratio: median of the runs' ratios):\n` +
        formatTable(headers(""), work) +
        "\n",
    );
    const reference = await againstReference();
    if (reference.length > 0) {
      process.stdout.write(
        `\nOur runtime, CPU time per input on one thread, ms: plain JavaScript kernels against the SIMD kernels:\n` +
          formatTable(["model", "JavaScript kernels", "SIMD kernels"], reference) +
          "\n",
      );
    }
  } finally {
    await pool.close();
  }
  const seconds = quantizeActivationsSeconds();
  if (seconds !== undefined) {
    const cpu = seconds.cpu === undefined ? "" : `, ${seconds.cpu.toFixed(1)} s of CPU time`;
    process.stdout.write(
      `\nquantize-activations mobilenet_v2_fp32 --samples 16 --check 16: ${seconds.wall.toFixed(1)} s${cpu}\n`,
    );
  }
}
