/**
 * `npm run bench [-- --size-mb N] [--hidden H] [--tasks a,b]`: generates a transformer-shaped
 * fp16 model of about N MB (default 1024; largest tensor 4·H² halves) and times each task on it
 * in a fresh process, printing time, CPU time (all threads), throughput (model bytes per
 * second), speed relative to a plain copy of the weight file (when file_copy ran first) and
 * peak resident memory. Comparing peaks at two --hidden sizes shows how memory grows with the
 * largest tensor. The task `inference` (last by default; `--tasks inference` alone skips the
 * model) times CPU inference side by side with onnxruntime-node (./inference.ts).
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatBytes, formatTable } from "../src/cli/format.js";
import { benchmarkInference } from "./inference.js";
import { shapeForBytes } from "./model.js";
import { TASKS } from "./tasks.js";

const INFERENCE = "inference";
const { values } = parseArgs({
  options: {
    "size-mb": { type: "string", default: "1024" },
    tasks: { type: "string", default: [...Object.keys(TASKS), INFERENCE].join(",") },
    hidden: { type: "string", default: "1024" },
  },
});
const names = values.tasks.split(",");
const compression = names.filter((name) => name !== INFERENCE);
const bytes = Number(values["size-mb"]) * 1024 * 1024;
const shape = shapeForBytes(bytes, Number(values.hidden));
const work = await mkdtemp(join(tmpdir(), "coreml-optimize-bench-"));
const modelPath = join(work, "transformer.mlpackage");

interface Measured {
  seconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
}

const taskScript = join(dirname(fileURLToPath(import.meta.url)), "task.js");
const measure = (args: string[]) =>
  JSON.parse(
    execFileSync(process.execPath, [taskScript, ...args], { encoding: "utf8" }),
  ) as Measured;

try {
  if (compression.length > 0) await benchmarkCompression();
  if (names.includes(INFERENCE)) await benchmarkInference();
} finally {
  await rm(work, { recursive: true, force: true });
}

async function benchmarkCompression(): Promise<void> {
  const generated = measure(["generate", String(bytes), values.hidden, modelPath]);
  const weightBytes = (await stat(join(modelPath, "Data/com.apple.CoreML/weights/weight.bin")))
    .size;
  const largest = 4 * shape.hidden * shape.hidden * 2;
  process.stdout.write(
    `model: ${shape.layers} layers, hidden ${shape.hidden}, ${formatBytes(weightBytes)} of fp16 weights, largest tensor ${formatBytes(largest)}\n\n`,
  );
  const measured = new Map<string, Measured>();
  const percent = (part: number, whole: number) => `${((part / whole) * 100).toFixed(0)} %`;
  const row = (name: string, result: Measured) => {
    const copy = measured.get("file_copy");
    return [
      name,
      `${result.seconds.toFixed(2)} s`,
      `${result.cpuSeconds.toFixed(2)} s`,
      `${formatBytes(weightBytes / result.seconds)}/s`,
      copy ? percent(copy.seconds, result.seconds) : "",
      formatBytes(result.peakRssBytes),
    ];
  };
  const rows: string[][] = [row("write (generate)", generated)];
  const outputs = new Map<string, string>();
  for (const name of compression) {
    const task = TASKS[name];
    if (!task) throw new Error(`unknown task ${name} (known: ${Object.keys(TASKS).join(", ")})`);
    const input = task.from ? outputs.get(task.from) : modelPath;
    if (!input) throw new Error(`task ${name} needs task ${task.from} to run before it`);
    const output = join(work, `${name}.out`);
    outputs.set(name, output);
    const result = measure([name, input, output]);
    measured.set(name, result);
    rows.push(row(name, result));
  }
  const headers = ["task", "time", "cpu time", "throughput", "vs file copy", "peak RSS"];
  process.stdout.write(`${formatTable(headers, rows)}\n`);
}
