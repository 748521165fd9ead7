import assert from "node:assert/strict";
import { test } from "node:test";
import type { Operation } from "../../src/format/gen/MIL_pb.js";
import { gemm } from "../../src/kernels/ops/matmul.js";
import { OpContext, type OpKernel } from "../../src/runtime/kernel.js";
import { REARRANGE_KERNELS } from "../../src/runtime/ops/rearrange.js";
import type { NumericValue, RuntimeValue } from "../../src/runtime/value.js";

const tensor = (
  shape: number[],
  values: number[],
  dtype: NumericValue["dtype"] = "fp32",
): NumericValue => ({
  dtype,
  shape,
  data: Float32Array.from(values),
});
const scalar = (v: number | boolean, dtype: NumericValue["dtype"] = "int32") =>
  tensor([], [Number(v)], dtype);

/** Runs one kernel on named inputs, without a program around it. */
function run(type: string, inputs: Record<string, RuntimeValue>): NumericValue[] {
  const op = {
    type,
    inputs: Object.fromEntries(Object.keys(inputs).map((k) => [k, { arguments: [{}] }])),
    outputs: [],
    blocks: [],
  } as unknown as Operation;
  const ctx = new OpContext(
    op,
    type,
    [],
    (input) => [inputs[input]],
    () => [],
    gemm,
  );
  const result = (REARRANGE_KERNELS[type] as OpKernel)(ctx);
  return (Array.isArray(result) ? result : [result]) as NumericValue[];
}

test("upsample_bilinear samples MIL's documented grids", () => {
  const x = tensor([1, 1, 2], [0, 1]);
  const aligned = run("upsample_bilinear", { x, scale_factor_width: scalar(2.5, "fp32") })[0];
  assert.deepEqual(Array.from(aligned.data), [0, 0.25, 0.5, 0.75, 1]);
  const half = run("upsample_bilinear", {
    x,
    scale_factor_width: scalar(3, "fp32"),
    align_corners: scalar(false, "bool"),
  })[0];
  const expected = [0, 0, 1 / 3, 2 / 3, 1, 1];
  half.data.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `${i}: ${v}`));
});

test("pixel_shuffle, depth_to_space and space_to_depth rearrange blocks", () => {
  const x = tensor([1, 4, 1, 1], [0, 1, 2, 3]);
  assert.deepEqual(
    Array.from(run("pixel_shuffle", { x, upscale_factor: scalar(2) })[0].data),
    [0, 1, 2, 3],
  );
  const two = tensor([1, 8, 1, 1], [0, 1, 2, 3, 4, 5, 6, 7]);
  // PyTorch order: channel 0 takes inputs 0..3; TensorFlow order interleaves the channels.
  assert.deepEqual(
    Array.from(run("pixel_shuffle", { x: two, upscale_factor: scalar(2) })[0].data),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
  assert.deepEqual(
    Array.from(run("depth_to_space", { x: two, block_size: scalar(2) })[0].data),
    [0, 2, 4, 6, 1, 3, 5, 7],
  );
  const image = tensor([1, 1, 2, 2], [0, 1, 2, 3]);
  const packed = run("space_to_depth", { x: image, block_size: scalar(2) })[0];
  assert.deepEqual(packed.shape, [1, 4, 1, 1]);
  assert.deepEqual(Array.from(packed.data), [0, 1, 2, 3]);
});

test("reverse, topk, cumsum and one_hot", () => {
  const x = tensor([2, 3], [3, 1, 2, 5, 5, 4]);
  assert.deepEqual(
    Array.from(run("reverse", { x, axes: tensor([1], [1]) })[0].data),
    [2, 1, 3, 4, 5, 5],
  );
  const [values, indices] = run("topk", { x, k: scalar(2) });
  assert.deepEqual(Array.from(values.data), [3, 2, 5, 5]);
  assert.deepEqual(Array.from(indices.data), [0, 2, 0, 1]);
  const [low] = run("topk", { x, k: scalar(1), axis: scalar(0), ascending: scalar(true, "bool") });
  assert.deepEqual(Array.from(low.data), [3, 1, 2]);
  assert.deepEqual(Array.from(run("cumsum", { x, axis: scalar(1) })[0].data), [3, 4, 6, 5, 10, 14]);
  assert.deepEqual(
    Array.from(
      run("cumsum", {
        x,
        axis: scalar(1),
        exclusive: scalar(true, "bool"),
        reverse: scalar(true, "bool"),
      })[0].data,
    ),
    [3, 2, 0, 9, 4, 0],
  );
  const hot = run("one_hot", {
    indices: tensor([2], [2, 0], "int32"),
    one_hot_vector_size: scalar(3),
  })[0];
  assert.deepEqual(hot.shape, [2, 3]);
  assert.deepEqual(Array.from(hot.data), [0, 0, 1, 1, 0, 0]);
});
