import assert from "node:assert/strict";
import { test } from "node:test";
import { linearQuantizerConfig } from "../../src/config/index.js";
import type { MLModel } from "../../src/format/model.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { splitModel } from "../../src/program/split.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { randomHalf } from "../support/tensors.js";
import { fourLayers } from "../support/layers.js";

async function run(
  model: MLModel,
  inputs: Record<string, import("../../src/kernels/dtype.js").Tensor>,
) {
  return (await Interpreter.load(model, { reference: true })).predict(inputs);
}

test("split cuts between equal weight halves, and the halves reproduce the whole", async () => {
  for (const quantize of [false, true]) {
    const dense = await fourLayers();
    const model = quantize
      ? (
          await linearQuantizeWeights(dense, {
            globalConfig: linearQuantizerConfig({ dtype: "int8" }),
          })
        ).model
      : dense;
    const { parts, boundary, weightBytes } = await splitModel(model);
    assert.equal(weightBytes[0], weightBytes[1], `${weightBytes}`);
    assert.deepEqual(boundary, ["act1"]);
    const [first, second] = parts;
    assert.deepEqual(
      (await Interpreter.load(second)).inputs.map((i) => i.name),
      ["act1", "x"],
    );
    const x = randomHalf([2, 64], 42);
    const whole = await run(model, { x });
    const middle = await run(first, { x });
    const end = await run(second, { act1: middle.act1, x });
    assert.deepEqual(end.out.data, whole.out.data);
    for (const m of [...parts, model, dense]) await m.close();
  }
});
