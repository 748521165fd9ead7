/**
 * `npm run bench:llm [-- --layers 32 --hidden 4096 --dir /tmp/llm --workers 2]`: a 7B-shaped
 * transformer (hidden 4096, 32 layers, about 13 GB of fp16 weights by default; generated tensor
 * by tensor into --dir, never kept in the repo) compressed with int4 per block (block 32) and
 * with 4-bit k-means palettization, each in a child process whose peak resident memory is
 * reported (the goal: under 1 GB). Fewer --layers give a smaller model of the same shapes.
 */
import { spawnSync } from "node:child_process";
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatBytes, formatTable } from "../src/cli/format.js";
import { linearQuantizerConfig, palettizerConfig } from "../src/config/index.js";
import { loadModel } from "../src/format/model.js";
import { linearQuantizeWeights } from "../src/passes/linear-quantize.js";
import { palettizeWeights } from "../src/passes/palettize.js";
import { generateTransformer } from "./model.js";

const { values } = parseArgs({
  options: {
    layers: { type: "string", default: "32" },
    hidden: { type: "string", default: "4096" },
    dir: { type: "string", default: join(tmpdir(), "coreml-optimize-llm") },
    workers: { type: "string", default: "2" },
    keep: { type: "boolean", default: false },
    // Internal: one compression in a child process.
    phase: { type: "string" },
  },
});

const PHASES = {
  int4: (model: Parameters<typeof linearQuantizeWeights>[0], workers: number) =>
    linearQuantizeWeights(
      model,
      {
        globalConfig: linearQuantizerConfig({
          mode: "linear_symmetric",
          dtype: "int4",
          granularity: "per_block",
          blockSize: 32,
        }),
      },
      { workers },
    ),
  kmeans4: (model: Parameters<typeof palettizeWeights>[0], workers: number) =>
    palettizeWeights(
      model,
      { globalConfig: palettizerConfig({ nbits: 4, mode: "kmeans", granularity: "per_tensor" }) },
      { workers },
    ),
} as const;

async function folderBytes(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await folderBytes(join(path, entry));
  return total;
}

const source = join(values.dir, "llm_fp16.mlpackage");
const workers = Number(values.workers);

if (values.phase) {
  const phase = values.phase as keyof typeof PHASES;
  const started = performance.now();
  const model = await loadModel(source);
  const result = await PHASES[phase](model, workers);
  const output = join(values.dir, `llm_${phase}.mlpackage`);
  await result.model.save(output);
  await result.model.close();
  await model.close();
  process.stdout.write(
    JSON.stringify({
      phase,
      seconds: (performance.now() - started) / 1000,
      weights: result.weights.length,
      bytes: await folderBytes(output),
      // Linux reports kilobytes.
      peakRss: process.resourceUsage().maxRSS * 1024,
    }) + "\n",
  );
  if (!values.keep) await rm(output, { recursive: true, force: true });
} else {
  const layers = Number(values.layers);
  const hidden = Number(values.hidden);
  await mkdir(values.dir, { recursive: true });
  const started = performance.now();
  const model = await generateTransformer({ layers, hidden, sequence: 16 });
  await model.save(source);
  await model.close();
  const generated = (performance.now() - started) / 1000;
  const size = await folderBytes(source);
  console.log(
    `generated ${layers} layers of hidden ${hidden}: ${formatBytes(size)} in ${generated.toFixed(0)} s`,
  );
  const rows: string[][] = [];
  for (const phase of Object.keys(PHASES)) {
    const child = spawnSync(
      process.execPath,
      [fileURLToPath(import.meta.url), "--phase", phase, ...process.argv.slice(2)],
      { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
    );
    if (child.status !== 0) throw new Error(`${phase} failed (exit ${child.status})`);
    const r = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as {
      seconds: number;
      weights: number;
      bytes: number;
      peakRss: number;
    };
    rows.push([
      phase,
      String(r.weights),
      formatBytes(size),
      formatBytes(r.bytes),
      `${r.seconds.toFixed(0)} s`,
      `${((size / r.seconds) * 1e-6).toFixed(0)} MB/s`,
      formatBytes(r.peakRss),
    ]);
  }
  console.log(
    formatTable(["compression", "weights", "before", "after", "time", "rate", "peak RSS"], rows),
  );
  if (!values.keep) await rm(values.dir, { recursive: true, force: true });
}
