import assert from "node:assert/strict";
import { test } from "node:test";
import { palettizerConfig } from "../../src/config/index.js";
import { loadModel } from "../../src/format/model.js";
import { roundToHalf } from "../../src/kernels/fp16.js";
import { vectorKMeans } from "../../src/kernels/palettize/vector-kmeans.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { assertSameProgram, goldenCases, goldenPath } from "../support/golden.js";
import { coremltoolsKMeansPalette } from "../support/sklearn-kmeans.js";
import { referenceVectorKMeans } from "../support/vector-kmeans-reference.js";

const cases = goldenCases((c) => c.name.startsWith("pal_kmeans") && c.name.includes("vector"));

function settings(config: Record<string, unknown>) {
  const global = config.global_config as { nbits: number; cluster_dim: number };
  return { nbits: global.nbits, dim: global.cluster_dim };
}

/** Each palettized weight's grouped points, as custom mode hands them over. */
async function groupedPoints(base: string, dim: number, nbits: number): Promise<Float64Array[]> {
  const model = await loadModel(goldenPath(base));
  const groups: Float64Array[] = [];
  const lutFunction = (values: Float64Array) => {
    groups.push(Float64Array.from(values));
    return { lut: new Float64Array(dim << nbits), indices: new Uint8Array(values.length / dim) };
  };
  const config = palettizerConfig({ mode: "custom", clusterDim: dim, lutFunction });
  const { model: out } = await palettizeWeights(model, { globalConfig: config }, { workers: 0 });
  await Promise.all([out.close(), model.close()]);
  return groups;
}

function squaredError(
  points: Float64Array,
  dim: number,
  lut: Float64Array,
  labels: Uint8Array,
  round: (x: number) => number,
): number {
  let error = 0;
  for (let p = 0; p < labels.length; p++) {
    for (let j = 0; j < dim; j++)
      error += (points[p * dim + j] - round(lut[labels[p] * dim + j])) ** 2;
  }
  return error;
}

for (const c of cases) {
  const { nbits, dim } = settings(c.config);
  const valueType = c.base.includes("fp16") ? "fp16" : "fp32";
  const round = valueType === "fp16" ? roundToHalf : Math.fround;

  // The reference benchmarks compare against: checked here on coremltools' own outputs.
  test(`${c.name}: the emulation of coremltools' k-means gives its tables and indices`, async () => {
    const base = await loadModel(goldenPath(c.base));
    const golden = await loadModel(goldenPath(c.output));
    const lutFunction = (values: Float64Array) =>
      coremltoolsKMeansPalette(values, dim, nbits, valueType);
    const config = palettizerConfig({ mode: "custom", clusterDim: dim, lutFunction });
    const { model } = await palettizeWeights(base, { globalConfig: config }, { workers: 0 });
    try {
      await assertSameProgram(model, golden, c.name);
    } finally {
      await Promise.all([model.close(), base.close(), golden.close()]);
    }
  });

  // The fixtures' case (fp16) only: the plain k-means takes seconds per weight.
  if (valueType !== "fp16") continue;
  test(`${c.name}: no worse in total than the plain vector k-means it replaced`, async () => {
    let ours = 0;
    let plain = 0;
    for (const points of await groupedPoints(c.base, dim, nbits)) {
      const fast = vectorKMeans(points, dim, 1 << nbits, round);
      const reference = referenceVectorKMeans(points, dim, 1 << nbits);
      ours += squaredError(points, dim, fast.centroids, fast.assignment, round);
      plain += squaredError(points, dim, reference.centroids, reference.assignment, round);
    }
    assert.ok(ours <= plain, `${ours} > ${plain}`);
  });
}
