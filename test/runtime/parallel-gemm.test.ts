import assert from "node:assert/strict";
import { test } from "node:test";
import type { Tensor } from "../../src/kernels/dtype.js";
import { WorkerPool } from "../../src/parallel/pool.js";
import { buildModel } from "../../src/program/builder.js";
import { Interpreter } from "../../src/runtime/interpreter.js";

/** Deterministic values in [-1, 1) from a linear congruential sequence. */
function pseudoRandom(shape: number[], seed: number): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = state / 2 ** 31 - 1;
  }
  return { dtype: "fp32", shape, data };
}

test("the reference kernels' products shared out to worker threads keep their bits", async () => {
  const model = await buildModel("iOS17", async (b) => {
    const x = b.input("x", "fp32", [70, 512]);
    const image = b.input("image", "fp32", [1, 16, 30, 30]);
    const w = await b.constant("w", pseudoRandom([448, 512], 1));
    const bias = await b.constant("bias", pseudoRandom([448], 2));
    const kernel = await b.constant("kernel", pseudoRandom([66, 16, 3, 3], 3));
    const hidden = b.linear(x, w, bias);
    b.output(hidden);
    b.output(b.matmul(hidden, hidden, false, true));
    b.output(b.conv(image, kernel, { padType: "same" }));
  });
  const inputs = { x: pseudoRandom([70, 512], 4), image: pseudoRandom([1, 16, 30, 30], 5) };
  const single = (await Interpreter.load(model, { reference: true })).predict(inputs);
  const pool = new WorkerPool(2);
  let sharedOut = 0;
  const runBlocking = pool.runBlocking.bind(pool);
  pool.runBlocking = (...args) => {
    sharedOut++;
    runBlocking(...args);
  };
  try {
    const parallel = (await Interpreter.load(model, { pool, reference: true })).predict(inputs);
    assert.deepEqual(Object.keys(parallel), Object.keys(single));
    for (const [name, tensor] of Object.entries(single)) {
      const bits = (t: Tensor) => new Uint32Array(new Float32Array(t.data as Float32Array).buffer);
      assert.deepEqual(parallel[name].shape, tensor.shape, name);
      assert.deepEqual(bits(parallel[name]), bits(tensor), name);
    }
    assert.equal(sharedOut, 3, "each large product goes to the workers");
  } finally {
    await pool.close();
  }
});

test("a pool without workers runs the reference products inline", async () => {
  const model = await buildModel("iOS17", async (b) => {
    const x = b.input("x", "fp32", [64, 256]);
    b.output(b.linear(x, await b.constant("w", pseudoRandom([256, 256], 6))));
  });
  const inputs = { x: pseudoRandom([64, 256], 7) };
  const single = (await Interpreter.load(model, { reference: true })).predict(inputs);
  const inline = (
    await Interpreter.load(model, { pool: new WorkerPool(0), reference: true })
  ).predict(inputs);
  assert.deepEqual(inline, single);
});
