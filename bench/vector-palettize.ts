/**
 * `npm run bench:vector [-- --models a,b] [--nbits N] [--cluster-dim D] [--workers W] [--old]`:
 * vector palettization (k-means, one table per tensor) of the reference models in
 * ../shared/runtime (default mobilenet_v2_fp32 and mobilenet_v2_fp16; 4 bits, cluster_dim 2,
 * 2 workers). Prints the time of `palettizeWeights` (wall, and CPU of all threads) on a fresh
 * worker pool and again on the warm one, then each weight's squared error against what
 * coremltools 9.1 makes of it, through the emulation of its scikit-learn k-means in
 * test/support/sklearn-kmeans.ts (an emulation: coremltools cannot run here; it reproduces the
 * golden vector cases bit for bit), and with --old against the plain k-means this replaced
 * (test/support/vector-kmeans-reference.ts; minutes per model).
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatTable } from "../src/cli/format.js";
import { palettizerConfig, type LutFunction } from "../src/config/index.js";
import { loadModel, type MLModel } from "../src/format/model.js";
import { WorkerPool } from "../src/parallel/pool.js";
import type { WeightReport } from "../src/passes/driver.js";
import { palettizeWeights } from "../src/passes/palettize.js";
import { coremltoolsKMeansPalette } from "../test/support/sklearn-kmeans.js";
import { referenceVectorKMeans } from "../test/support/vector-kmeans-reference.js";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "mobilenet_v2_fp32,mobilenet_v2_fp16" },
    nbits: { type: "string", default: "4" },
    "cluster-dim": { type: "string", default: "2" },
    workers: { type: "string", default: "2" },
    old: { type: "boolean", default: false },
  },
});
const nbits = Number(values.nbits);
const clusterDim = Number(values["cluster-dim"]);
const runtime = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/runtime");

/** Wall and CPU seconds (all threads of the process) of `run`. */
async function timed<T>(run: () => Promise<T>): Promise<{ result: T; wall: number; cpu: number }> {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const result = await run();
  const cpu = process.cpuUsage(cpuStart);
  return { result, wall: (performance.now() - start) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
}

/** The weights' reports from palettizing with `lutFunction` in custom mode, one weight at a time. */
async function customReports(model: MLModel, lutFunction: LutFunction): Promise<WeightReport[]> {
  const config = palettizerConfig({ mode: "custom", clusterDim, lutFunction });
  const { model: out, weights } = await palettizeWeights(
    model,
    { globalConfig: config },
    { workers: 0, raiseTarget: "iOS18", memoryBudget: 1 },
  );
  await out.close();
  return weights;
}

const noise = (signal: number, report: WeightReport) => signal / 10 ** (report.snrDb! / 10);

for (const name of values.models.split(",")) {
  const path = join(runtime, `${name}.mlpackage`);
  if (!existsSync(path)) {
    process.stdout.write(`${name}: ${path} not found, skipped\n`);
    continue;
  }
  const model = await loadModel(path);
  const config = palettizerConfig({ nbits, clusterDim });
  const pool = new WorkerPool(Number(values.workers));
  const runs: { result: WeightReport[]; wall: number; cpu: number }[] = [];
  try {
    for (let run = 0; run < 2; run++) {
      runs.push(
        await timed(async () => {
          // As a pass starting its own pool does: the workers boot while the model is read.
          pool.start();
          const { model: out, weights } = await palettizeWeights(
            model,
            { globalConfig: config },
            { pool, raiseTarget: "iOS18" },
          );
          await out.close();
          return weights;
        }),
      );
    }
  } finally {
    await pool.close();
  }
  const ours = runs[0].result;
  // The reference palettizations see each weight's points, one weight after another.
  const signals: number[] = [];
  const dtype = ours[0].dtype === "fp16" ? "fp16" : "fp32";
  const emulated = await customReports(model, (points) => {
    signals.push(points.reduce((sum, v) => sum + v * v, 0));
    return coremltoolsKMeansPalette(points, clusterDim, nbits, dtype);
  });
  const old = values.old
    ? await customReports(model, (points) => {
        const { centroids, assignment } = referenceVectorKMeans(points, clusterDim, 1 << nbits);
        return { lut: centroids, indices: assignment };
      })
    : undefined;
  await model.close();

  const rows: string[][] = [];
  const totals = { ours: 0, coremltools: 0, old: 0 };
  let worse = 0;
  let worseThanOld = 0;
  ours.forEach((report, i) => {
    const mine = noise(signals[i], report);
    const theirs = noise(signals[i], emulated[i]);
    const before = old && noise(signals[i], old[i]);
    totals.ours += mine;
    totals.coremltools += theirs;
    totals.old += before ?? 0;
    if (mine > theirs) worse++;
    if (before !== undefined && mine > before) worseThanOld++;
    const points = report.shape.reduce((a, b) => a * b, 1) / clusterDim;
    rows.push([
      report.name,
      String(points),
      (mine / theirs).toFixed(4),
      ...(before === undefined ? [] : [(mine / before).toFixed(4)]),
    ]);
  });
  const header = ["weight", "points", "error / coremltools", ...(old ? ["error / old"] : [])];
  const time = (run: { wall: number; cpu: number }) =>
    `${run.wall.toFixed(2)} s wall, ${run.cpu.toFixed(2)} s CPU`;
  process.stdout.write(
    `\n${name}: ${ours.length} weights, ${nbits}-bit, cluster_dim ${clusterDim}, ` +
      `${values.workers} workers\n` +
      `palettize_weights: ${time(runs[0])} (fresh pool), ${time(runs[1])} (warm)\n` +
      `${formatTable(header, rows)}\n` +
      `total squared error / coremltools (emulated): ${(totals.ours / totals.coremltools).toFixed(4)}; ` +
      `higher on ${worse} of ${ours.length} weights\n` +
      (old
        ? `total squared error / old k-means: ${(totals.ours / totals.old).toFixed(5)}; ` +
          `higher on ${worseThanOld} of ${ours.length} weights; old / coremltools ` +
          `${(totals.old / totals.coremltools).toFixed(4)}\n`
        : ""),
  );
}
