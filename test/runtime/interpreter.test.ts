import assert from "node:assert/strict";
import { test } from "node:test";
import { UnsupportedError, ConfigError } from "../../src/errors.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { floatToHalfArray, halfToFloat } from "../../src/kernels/fp16.js";
import { buildModel } from "../../src/program/builder.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { predict } from "../../src/runtime/runner.js";
import { supportedOpTypes } from "../../src/runtime/registry.js";

const fp32 = (shape: number[], values: number[]): Tensor => ({
  dtype: "fp32",
  shape,
  data: Float32Array.from(values),
});
const ints = (shape: number[], values: number[]): Tensor => ({
  dtype: "int32",
  shape,
  data: Int32Array.from(values),
});

test("a small program: linear, gelu, softmax, reshape, transpose, matmul", async () => {
  const model = await buildModel("iOS17", async (b) => {
    const x = b.input("x", "fp32", [2, 3]);
    const w = await b.constant("w", fp32([4, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]));
    const bias = await b.constant("bias", fp32([4], [0, 0, 0, -1]));
    const hidden = b.gelu(b.linear(x, w, bias), "TANH_APPROXIMATION");
    const probabilities = b.softmax(hidden, -1);
    const flipped = b.transpose(b.reshape(probabilities, [2, 2, 2]), [0, 2, 1]);
    b.output(b.matmul(flipped, flipped, false, true));
    b.output(probabilities);
  });
  const x = [0.5, -1, 2, 0, 1, -0.5];
  const outputs = await predict(model, { x: fp32([2, 3], x) });
  const gelu = (v: number) =>
    0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  const expected: number[] = [];
  for (let r = 0; r < 2; r++) {
    const row = x.slice(r * 3, r * 3 + 3);
    const h = [...row, row[0] + row[1] + row[2] - 1].map(gelu);
    const e = h.map(Math.exp);
    const s = e.reduce((a, v) => a + v, 0);
    expected.push(...e.map((v) => v / s));
  }
  const [, probs] = Object.values(outputs);
  probs.data.forEach((v, i) => assert.ok(Math.abs(Number(v) - expected[i]) < 1e-6, `prob ${i}`));
  assert.deepEqual(Object.values(outputs)[0].shape, [2, 2, 2]);
  await model.close();
});

test("fp16 programs round every op's output to fp16", async () => {
  const model = await buildModel("iOS17", async (b) => {
    const x = b.input("x", "fp32", [1, 3]);
    const half = b.cast(x, "fp16");
    const third = await b.constant("third", {
      dtype: "fp16",
      shape: [1],
      data: floatToHalfArray(Float32Array.of(1 / 3)),
    });
    b.output(b.cast(b.binary("mul", half, third), "fp32"));
  });
  const outputs = await predict(model, { x: fp32([1, 3], [1, 1000.3, 1e-3]) });
  const out = Object.values(outputs)[0].data as Float32Array;
  const round = (v: number) => halfToFloat(floatToHalfArray(Float32Array.of(v))[0]);
  const third = round(1 / 3);
  [1, 1000.3, 1e-3].forEach((v, i) => assert.equal(out[i], round(round(v) * third)));
  assert.notEqual(out[1], Math.fround(1000.3 / 3));
  await model.close();
});

test("gather with int32 ids and a select on a comparison", async () => {
  const model = await buildModel("iOS17", async (b) => {
    const ids = b.input("ids", "int32", [3]);
    const table = await b.constant("table", fp32([4, 2], [0, 1, 10, 11, 20, 21, 30, 31]));
    const rows = b.gather(table, ids, 0);
    const limit = await b.constant("limit", fp32([1], [15]));
    const big = b.op("greater_equal", "big", { x: rows.name, y: limit.name }, "bool", [3, 2]);
    const zero = await b.constant("zero", fp32([1], [0]));
    b.output(
      b.op("select", "kept", { cond: big.name, a: rows.name, b: zero.name }, "fp32", [3, 2]),
    );
  });
  const outputs = await predict(model, { ids: ints([3], [3, 0, -2]) });
  assert.deepEqual(
    Array.from(Object.values(outputs)[0].data as Float32Array),
    [30, 31, 0, 0, 20, 21],
  );
  await model.close();
});

test("an unknown op fails at load, naming its type and op", async () => {
  const model = await buildModel("iOS17", async (b) => {
    const x = b.input("x", "fp32", [4]);
    b.output(b.unary("relu", b.op("frobnicate", "mystery_op", { x: x.name }, "fp32", [4])));
  });
  await assert.rejects(Interpreter.load(model), (error: Error) => {
    assert.ok(error instanceof UnsupportedError);
    assert.match(error.message, /frobnicate/);
    assert.match(error.message, /mystery_op/);
    return true;
  });
  assert.ok(supportedOpTypes().includes("conv"));
  await model.close();
});

test("missing or misshapen inputs are user errors", async () => {
  const model = await buildModel("iOS17", async (b) => {
    b.output(b.unary("relu", b.input("x", "fp32", [2])));
  });
  const interpreter = await Interpreter.load(model);
  assert.throws(() => interpreter.predict({}), ConfigError);
  assert.throws(() => interpreter.predict({ x: fp32([3], [1, 2, 3]) }), /shape \[3\].*\[2\]/);
  const relu = interpreter.predict({ x: fp32([2], [-1, 2]) })[interpreter.outputs[0].name];
  assert.deepEqual(Array.from(relu.data as Float32Array), [0, 2]);
  await model.close();
});

test("quantize rounds half to even and clips; dequantize along an axis", async () => {
  const model = await buildModel("iOS17", async (b) => {
    const x = b.input("x", "fp32", [2, 3]);
    const scale = await b.constant("scale", fp32([], [0.5]));
    const zero = await b.constant("zero", { dtype: "int8", shape: [], data: Int8Array.of(3) });
    const dtype = await b.constant("dtype", { dtype: "string", shape: [], data: ["int8"] });
    const q = b.op(
      "quantize",
      "q",
      { input: x.name, scale: scale.name, zero_point: zero.name, output_dtype: dtype.name },
      "int8",
      [2, 3],
    );
    const scales = await b.constant("scales", fp32([2], [1, 0.25]));
    const axis = await b.constant("axis", ints([], [0]));
    b.output(q);
    b.output(
      b.op(
        "dequantize",
        "dq",
        { input: q.name, scale: scales.name, axis: axis.name },
        "fp32",
        [2, 3],
      ),
    );
  });
  const outputs = Object.values(
    await predict(model, { x: fp32([2, 3], [0.25, 0.75, -1, 100, -100, 1.25]) }),
  );
  assert.deepEqual(Array.from(outputs[0].data as Int8Array), [3, 5, 1, 127, -128, 5]);
  assert.deepEqual(Array.from(outputs[1].data as Float32Array), [
    3,
    5,
    1,
    127 * 0.25,
    -128 * 0.25,
    5 * 0.25,
  ]);
  await model.close();
});

test("scaled_dot_product_attention with a boolean mask", async () => {
  const model = await buildModel("iOS18", async (b) => {
    const q = b.input("q", "fp32", [1, 2, 2]);
    const k = await b.constant("k", fp32([1, 2, 2], [1, 0, 0, 1]));
    const v = await b.constant("v", fp32([1, 2, 2], [1, 2, 3, 4]));
    const mask = await b.constant("mask", {
      dtype: "bool",
      shape: [2, 2],
      data: Uint8Array.of(1, 0, 1, 1),
    });
    b.output(
      b.op(
        "scaled_dot_product_attention",
        "sdpa",
        { query: q.name, key: k.name, value: v.name, attn_mask: mask.name },
        "fp32",
        [1, 2, 2],
      ),
    );
  });
  const out = Object.values(
    await predict(model, { q: fp32([1, 2, 2], [5, 5, 0, Math.SQRT2 * Math.log(3)]) }),
  )[0];
  const data = Array.from(out.data as Float32Array);
  // Row 0 sees only key 0; row 1 weighs keys 0 and 1 as 1 : 3.
  [1, 2, 0.25 * 1 + 0.75 * 3, 0.25 * 2 + 0.75 * 4].forEach((e, i) =>
    assert.ok(Math.abs(data[i] - e) < 1e-5, `${i}`),
  );
  await model.close();
});
