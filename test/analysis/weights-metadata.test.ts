import assert from "node:assert/strict";
import { test } from "node:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { decompressWeights } from "../../src/passes/decompress.js";
import { getWeightsMetadata } from "../../src/analysis/weights-metadata.js";
import { loadModel } from "../../src/format/model.js";
import { GOLDEN } from "../support/paths.js";
import { floatToHalf } from "../../src/kernels/fp16.js";
import { buildModel } from "../../src/program/builder.js";

test("weights metadata reports sparsity, distinct values and consumers above the threshold", async () => {
  const values = [0, 0, 0.5, -1.25];
  const model = await buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp16", [1, 64]);
    const big = Uint16Array.from({ length: 64 * 64 }, (_, i) => floatToHalf(values[i % 4]));
    const w = await b.constant("w", { dtype: "fp16", shape: [64, 64], data: big });
    const small = await b.constant("small", {
      dtype: "fp16",
      shape: [64],
      data: new Uint16Array(64),
    });
    const y = b.linear(x, w, small, "fc");
    b.output(b.matmul(y, w, false, true, "mm"));
  });
  try {
    const metadata = await getWeightsMetadata(model);
    assert.deepEqual([...metadata.keys()], ["w"]);
    const w = metadata.get("w")!;
    assert.equal(w.sparsity, 0.5);
    assert.deepEqual(w.stats, {
      min: -1.25,
      max: 0.5,
      mean: -0.1875,
      std: Math.sqrt((2 * 0.1875 ** 2 + 0.6875 ** 2 + 1.0625 ** 2) / 4),
    });
    assert.equal(w.uniqueValues, 3);
    assert.deepEqual(w.childOps, [
      { name: "fc", type: "linear", inputs: ["weight"] },
      { name: "mm", type: "matmul", inputs: ["y"] },
    ]);
    assert.deepEqual(
      [...(await getWeightsMetadata(model, { weightThreshold: 10 })).keys()].sort(),
      ["small", "w"],
    );
  } finally {
    await model.close();
  }
});

test("compressed weights are reported by their decompressed values", async () => {
  const model = await loadModel(join(GOLDEN, "cases/prune_magnitude50__zoo_fp16_ios18.mlpackage"));
  try {
    const metadata = await getWeightsMetadata(model);
    const fc2 = metadata.get("fc2_weight_0_to_fp16_sparsified")!;
    assert.deepEqual(fc2.value.shape, [200, 512]);
    assert.ok(fc2.sparsity >= 0.5 && fc2.sparsity < 0.51, `sparsity ${fc2.sparsity}`);
    assert.deepEqual(fc2.childOps, [{ name: "fc2_cast_fp16", type: "linear", inputs: ["weight"] }]);
  } finally {
    await model.close();
  }
});

test("metadata of every compressed golden case equals that of its decompressed model", async () => {
  const cases = readdirSync(join(GOLDEN, "cases")).filter((name) => name.endsWith(".mlpackage"));
  assert.ok(cases.length > 0);
  for (const name of cases) {
    const model = await loadModel(join(GOLDEN, "cases", name));
    const dense = await decompressWeights(model);
    try {
      const streamed = await getWeightsMetadata(model, { weightThreshold: 0 });
      const expected = await getWeightsMetadata(dense, { weightThreshold: 0 });
      assert.deepEqual([...streamed.keys()].sort(), [...expected.keys()].sort(), name);
      for (const [weight, meta] of expected) {
        const ours = streamed.get(weight)!;
        assert.deepEqual(ours.value, meta.value, `${name} ${weight}`);
        assert.deepEqual(ours.childOps, meta.childOps, `${name} ${weight}`);
      }
    } finally {
      await Promise.all([dense.close(), model.close()]);
    }
  }
});
