/**
 * Output errors measured by running both models track what the weights' own errors predict:
 * golden compressed cases ranked by weight SNR and by output SNR agree.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { getWeightsMetadata } from "../../src/analysis/weights-metadata.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { halfToFloatArray } from "../../src/kernels/fp16.js";
import { compareModels } from "../../src/runtime/compare.js";
import { randomSamples } from "../../src/runtime/inputs.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { goldenPath } from "../support/golden.js";

const CASES = [
  "lq_int8_linear_perchannel",
  "lq_int8_sym_perchannel",
  "pal_kmeans6_pertensor",
  "lq_uint8_linear_pertensor",
  "lq_uint4_linear_perblock16",
  "pal_kmeans4_pertensor",
  "prune_magnitude50",
];

const floats = (t: Tensor) =>
  t.dtype === "fp16" ? halfToFloatArray(t.data as Uint16Array) : (t.data as Float32Array);

/** SNR (dB) of all of a model's weights against the base model's. */
async function weightSnr(base: Map<string, Tensor>, model: MLModel): Promise<number> {
  let signal = 0;
  let noise = 0;
  for (const [name, weight] of await getWeightsMetadata(model, { weightThreshold: 0 })) {
    const original = [...base.keys()].find((b) => name === b || name.startsWith(`${b}_`));
    if (!original) continue;
    const [a, b] = [floats(base.get(original)!), floats(weight.value)];
    for (let i = 0; i < a.length; i++) {
      signal += a[i] * a[i];
      noise += (a[i] - b[i]) ** 2;
    }
  }
  return 10 * Math.log10(signal / noise);
}

function ranks(values: number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]);
  const rank = new Array<number>(values.length);
  order.forEach(([, i], r) => (rank[i] = r));
  return rank;
}

function spearman(a: number[], b: number[]): number {
  const [ra, rb] = [ranks(a), ranks(b)];
  const n = a.length;
  const d2 = ra.reduce((sum, r, i) => sum + (r - rb[i]) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

test("compare's output SNR ranks compressed models as their weight errors do", async () => {
  const base = await loadModel(goldenPath("bases/zoo_fp16_ios18.mlpackage"));
  const baseWeights = new Map(
    [...(await getWeightsMetadata(base, { weightThreshold: 0 }))].map(([n, w]) => [n, w.value]),
  );
  const samples = randomSamples((await Interpreter.load(base)).inputs, 2, 7);
  const weightSnrs: number[] = [];
  const outputSnrs: number[] = [];
  for (const name of CASES) {
    const model = await loadModel(goldenPath(`cases/${name}__zoo_fp16_ios18.mlpackage`));
    weightSnrs.push(await weightSnr(baseWeights, model));
    const fc3 = (await compareModels(base, model, samples)).find((c) => c.name === "fc3")!;
    outputSnrs.push(fc3.snrDb);
    await model.close();
  }
  await base.close();
  assert.ok(outputSnrs.every(Number.isFinite), `output SNRs ${outputSnrs.join(", ")}`);
  assert.ok(outputSnrs[1] > 25, "int8 per channel keeps the output above 25 dB");
  const rho = spearman(weightSnrs, outputSnrs);
  assert.ok(
    rho >= 0.8,
    `rank correlation ${rho.toFixed(2)}: weights ${weightSnrs.map((s) => s.toFixed(1))} outputs ${outputSnrs.map((s) => s.toFixed(1))}`,
  );
});
