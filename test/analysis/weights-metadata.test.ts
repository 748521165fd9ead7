import assert from "node:assert/strict";
import { test } from "node:test";
import { getWeightsMetadata } from "../../src/analysis/weights-metadata.js";
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
