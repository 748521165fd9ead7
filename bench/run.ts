/**
 * `npm run bench [-- --size-mb N] [--tasks a,b]`: generates a transformer-shaped fp16 model of
 * about N MB (default 1024) and times each task on it in a fresh process, printing time, CPU
 * time (all threads), throughput (model bytes per second) and peak resident memory; then the
 * CPU interpreter's time per input on the reference models, when ../shared/runtime is present.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatBytes, formatTable } from "../src/cli/format.js";
import { benchmarkInference } from "./inference.js";
import { generateTransformer, shapeForBytes } from "./model.js";
import { TASKS } from "./tasks.js";

const { values } = parseArgs({
  options: {
    "size-mb": { type: "string", default: "1024" },
    tasks: { type: "string", default: Object.keys(TASKS).join(",") },
    hidden: { type: "string", default: "1024" },
  },
});
const bytes = Number(values["size-mb"]) * 1024 * 1024;
const shape = shapeForBytes(bytes, Number(values.hidden));
const work = await mkdtemp(join(tmpdir(), "coreml-optimize-bench-"));
const modelPath = join(work, "transformer.mlpackage");

try {
  const start = performance.now();
  const model = await generateTransformer(shape);
  await model.save(modelPath);
  await model.close();
  const generateSeconds = (performance.now() - start) / 1000;
  const weightBytes = (await stat(join(modelPath, "Data/com.apple.CoreML/weights/weight.bin")))
    .size;
  const largest = 4 * shape.hidden * shape.hidden * 2;
  process.stdout.write(
    `model: ${shape.layers} layers, hidden ${shape.hidden}, ${formatBytes(weightBytes)} of fp16 weights, largest tensor ${formatBytes(largest)}\n` +
      `generated in ${generateSeconds.toFixed(1)} s (${formatBytes(weightBytes / generateSeconds)}/s written)\n\n`,
  );
  const rows: string[][] = [];
  const taskScript = join(dirname(fileURLToPath(import.meta.url)), "task.js");
  for (const name of values.tasks.split(",")) {
    const output = join(work, `${name}.mlpackage`);
    const result = JSON.parse(
      execFileSync(process.execPath, [taskScript, name, modelPath, output], { encoding: "utf8" }),
    ) as {
      seconds: number;
      cpuSeconds: number;
      peakRssBytes: number;
    };
    rows.push([
      name,
      `${result.seconds.toFixed(2)} s`,
      `${result.cpuSeconds.toFixed(2)} s`,
      `${formatBytes(weightBytes / result.seconds)}/s`,
      formatBytes(result.peakRssBytes),
      `${((result.peakRssBytes / weightBytes) * 100).toFixed(0)}% of model`,
    ]);
  }
  process.stdout.write(
    `${formatTable(["task", "time", "cpu time", "throughput", "peak RSS", "peak / model"], rows)}\n`,
  );
  const inference = await benchmarkInference();
  if (inference.length > 0) {
    process.stdout.write(
      `\nCPU inference:\n${formatTable(["model", "load", "per input"], inference)}\n`,
    );
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
