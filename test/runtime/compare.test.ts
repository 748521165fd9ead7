import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadModel } from "../../src/format/model.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { compareModels, compareOutputs } from "../../src/runtime/compare.js";
import { randomSamples } from "../../src/runtime/inputs.js";
import { seededRandom } from "../../src/kernels/random.js";
import { FIXTURES, GOLDEN } from "../support/paths.js";
import { loadRunner } from "../../src/runtime/runner.js";

const scores = (values: number[]) => ({
  y: { dtype: "fp32" as const, shape: [1, values.length], data: Float32Array.from(values) },
});

test("compareOutputs: SNR, PSNR, cosine, errors and top-k agreement", () => {
  const reference = [scores([1, 2, 3, 4, 5, 6]), scores([6, 5, 4, 3, 2, 1])];
  const candidate = [scores([1, 2, 3, 4, 5, 6.5]), scores([6, 5, 4, 3, 2, 7])];
  const [y] = compareOutputs(reference, candidate);
  assert.equal(y.count, 12);
  assert.equal(y.maxAbsError, 6);
  assert.equal(y.mse, (0.25 + 36) / 12);
  const signal = 2 * (1 + 4 + 9 + 16 + 25 + 36);
  assert.ok(Math.abs(y.snrDb - 10 * Math.log10(signal / 36.25)) < 1e-9);
  assert.ok(Math.abs(y.psnrDb - 10 * Math.log10(36 / y.mse)) < 1e-9);
  assert.equal(y.top1Agreement, 0.5);
  assert.equal(y.top5Agreement, 1);
  const [same] = compareOutputs(reference, reference);
  assert.equal(same.snrDb, Infinity);
  assert.equal(same.cosine, 1);
});

test("random samples are seeded and follow the program's input types", () => {
  const inputs = [
    { name: "x", dtype: "fp16" as const, shape: [2, null] },
    { name: "ids", dtype: "int32" as const, shape: [5] },
  ];
  const [a] = randomSamples(inputs, 1, 7);
  const [b] = randomSamples(inputs, 1, 7);
  assert.deepEqual(a.x.shape, [2, 1]);
  assert.deepEqual(Array.from(a.x.data as Float32Array), Array.from(b.x.data as Float32Array));
  assert.ok(Array.from(a.ids.data as Int32Array).every((v) => v >= 0 && v < 8));
  const random = seededRandom(1);
  assert.notEqual(random(), random());
});

const base = join(GOLDEN, "bases/zoo_fp16_ios18.mlpackage");
const compressed = join(GOLDEN, "cases/lq_int8_sym_perchannel__zoo_fp16_ios18.mlpackage");

test(
  "a golden base against its int8 per-channel case: finite, high SNR",
  { skip: !existsSync(base) || !existsSync(compressed) },
  async () => {
    const [reference, candidate] = await Promise.all([loadModel(base), loadModel(compressed)]);
    try {
      const { inputs } = await Interpreter.load(reference);
      const results = await compareModels(reference, candidate, randomSamples(inputs, 4, 0));
      assert.ok(results.length > 0);
      for (const r of results) {
        assert.ok(Number.isFinite(r.snrDb), `${r.name}: SNR ${r.snrDb}`);
        // 8-bit weights leave ~40 dB per layer; through a few layers, well above 25 dB.
        assert.ok(r.snrDb > 25, `${r.name}: SNR ${r.snrDb}`);
        assert.ok(r.cosine > 0.99);
      }
    } finally {
      await Promise.all([reference.close(), candidate.close()]);
    }
  },
);

test("infinite or NaN outputs are counted apart and left out of the statistics", async () => {
  const tensor = (values: number[]) => ({
    dtype: "fp32" as const,
    shape: [values.length],
    data: Float32Array.from(values),
  });
  const [partly] = compareOutputs(
    [{ y: tensor([1, 2, 3, 4]) }],
    [{ y: tensor([1, Infinity, 3, NaN]) }],
  );
  assert.deepEqual(partly.nonFinite, { reference: 0, candidate: 2 });
  assert.equal(partly.count, 2);
  assert.equal(partly.snrDb, Infinity);
  const [none] = compareOutputs([{ y: tensor([1, 2]) }], [{ y: tensor([NaN, -Infinity]) }]);
  assert.ok(Number.isNaN(none.snrDb) && Number.isNaN(none.cosine));
  const [clean] = compareOutputs([{ y: tensor([1, 2]) }], [{ y: tensor([1, 2.5]) }]);
  assert.equal(clean.nonFinite, undefined);
});

test("random samples for an input an embedding reads are whole indices inside its table", async () => {
  const model = await loadModel(join(FIXTURES, "golden/bases/nn.mlmodel"));
  const runner = await loadRunner(model);
  const indexed = runner.inputs.filter((io) => io.indexRange !== undefined);
  assert.ok(indexed.length > 0, "the fixture's embedding input is marked");
  for (const sample of randomSamples(runner.inputs, 3, 5)) {
    for (const io of indexed) {
      for (const v of sample[io.name].data as Float32Array) {
        assert.ok(Number.isInteger(v) && v >= 0 && v < io.indexRange!, `${io.name}: ${v}`);
      }
    }
    assert.doesNotThrow(() => runner.predict(sample));
  }
  await model.close();
});
