import assert from "node:assert/strict";
import { test } from "node:test";
import { inspectModel } from "../../src/analysis/inspect.js";
import { linearQuantizerConfig } from "../../src/config/index.js";
import { halfToFloatArray } from "../../src/kernels/fp16.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { ACCUMULATOR_WEIGHT, accumulator } from "../support/stateful.js";
import { randomHalf } from "../support/tensors.js";

/** W·x summed over the steps, computed directly. */
function directSums(steps: number, start: Float32Array = new Float32Array(16)): Float32Array[] {
  const w = halfToFloatArray(ACCUMULATOR_WEIGHT.data as Uint16Array);
  const acc = Float64Array.from(start);
  const sums: Float32Array[] = [];
  for (let t = 0; t < steps; t++) {
    const x = halfToFloatArray(randomHalf([1, 16], 100 + t).data as Uint16Array);
    for (let o = 0; o < 16; o++) {
      let dot = 0;
      for (let i = 0; i < 16; i++) dot += w[o * 16 + i] * x[i];
      acc[o] += dot;
    }
    sums.push(Float32Array.from(acc));
  }
  return sums;
}

function assertClose(actual: Float32Array, expected: Float32Array, label: string): void {
  for (let i = 0; i < expected.length; i++) {
    // fp16 rounding of the state at each step.
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= 0.02 * (1 + Math.abs(expected[i])),
      `${label}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

test("a stateful program keeps its state across predictions, as a direct computation does", async () => {
  const model = await accumulator();
  const interpreter = await Interpreter.load(model);
  assert.deepEqual(
    interpreter.states.map((s) => [s.name, s.dtype, s.shape]),
    [["acc", "fp16", [1, 16]]],
  );
  assert.deepEqual(
    interpreter.inputs.map((i) => i.name),
    ["x"],
  );
  const state = interpreter.newState();
  const expected = directSums(5);
  for (let t = 0; t < 5; t++) {
    const { total } = interpreter.predict({ x: randomHalf([1, 16], 100 + t) }, { state });
    assertClose(total.data as Float32Array, expected[t], `step ${t}`);
  }
  const final = halfToFloatArray(state.tensors().acc.data as Uint16Array);
  assertClose(final, expected[4], "state");

  // A given initial state; and without a state, every prediction starts from zeros.
  const start = Float32Array.from({ length: 16 }, (_, i) => i / 4);
  const given = interpreter.newState({ acc: { dtype: "fp32", shape: [1, 16], data: start } });
  const first = interpreter.predict({ x: randomHalf([1, 16], 100) }, { state: given });
  assertClose(first.total.data as Float32Array, directSums(1, start)[0], "from a given state");
  for (let t = 0; t < 2; t++) {
    const fresh = interpreter.predict({ x: randomHalf([1, 16], 100) });
    assertClose(fresh.total.data as Float32Array, expected[0], "without a state");
  }
  assert.throws(() => interpreter.newState({ kv: randomHalf([1, 16], 1) }), /no such state/);

  // Compressed, the program still reads and writes its state; inspect lists it.
  const quantized = await linearQuantizeWeights(model, {
    globalConfig: linearQuantizerConfig({ weightThreshold: 16 }),
  });
  assert.equal(quantized.weights.length, 1);
  const summary = await inspectModel(quantized.model);
  assert.deepEqual(summary.states, [{ name: "acc", type: "state fp16[1,16]" }]);
  assert.deepEqual(summary.functions[0].states, summary.states);
  const q = await Interpreter.load(quantized.model);
  const qState = q.newState();
  let last: Float32Array = new Float32Array(0);
  for (let t = 0; t < 5; t++) {
    last = q.predict({ x: randomHalf([1, 16], 100 + t) }, { state: qState }).total
      .data as Float32Array;
  }
  assertClose(last, expected[4], "int8 after 5 steps");
  await quantized.model.close();
  await model.close();
});
