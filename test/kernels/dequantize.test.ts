import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { affineDequantize, blockwiseShiftScale } from "../../src/kernels/dequantize.js";
import { floatToHalf, halfToFloat, halfToFloatArray } from "../../src/kernels/fp16.js";
import type { Tensor } from "../../src/kernels/dtype.js";

const fp32 = (shape: number[], values: number[]): Tensor => ({
  dtype: "fp32",
  shape,
  data: Float32Array.from(values),
});
const fp16 = (shape: number[], values: number[]): Tensor => ({
  dtype: "fp16",
  shape,
  data: Uint16Array.from(values, floatToHalf),
});
const int8 = (shape: number[], values: number[]): Tensor => ({
  dtype: "int8",
  shape,
  data: Int8Array.from(values),
});

describe("affineDequantize", () => {
  it("broadcasts scale and zero point along the axis", () => {
    const q = int8([2, 3], [1, 2, 3, 4, 5, 6]);
    const out = affineDequantize(q, int8([3], [0, 1, 2]), fp32([3], [1, 2, 0.5]), 1);
    assert.deepEqual([...(out.data as Float32Array)], [1, 2, 0.5, 4, 8, 2]);
    const rows = affineDequantize(q, int8([2], [1, 0]), fp32([2], [2, -1]), -2);
    assert.deepEqual([...(rows.data as Float32Array)], [0, 2, 4, -4, -5, -6]);
  });

  it("takes scalar parameters and rounds float32 results to an fp16 scale's type", () => {
    const out = affineDequantize(
      { dtype: "uint8", shape: [3], data: Uint8Array.from([0, 128, 255]) },
      { dtype: "uint8", shape: [], data: Uint8Array.from([128]) },
      fp16([], [0.1]),
      0,
    );
    assert.equal(out.dtype, "fp16");
    const s = Math.fround(halfToFloat(floatToHalf(0.1)));
    const expected = [-128, 0, 127].map((d) => floatToHalf(Math.fround(d * s)));
    assert.deepEqual([...(out.data as Uint16Array)], expected);
  });

  it("rejects a vector scale of the wrong length", () => {
    assert.throws(
      () => affineDequantize(int8([2, 3], [0, 0, 0, 0, 0, 0]), int8([], [0]), fp32([2], [1, 1]), 1),
      RangeError,
    );
  });
});

describe("blockwiseShiftScale", () => {
  it("spreads each scale and offset over its block, per dimension", () => {
    // data 2x4, scale 2x2: blocks of 1x2.
    const data = int8([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
    const out = blockwiseShiftScale(
      data,
      fp32([2, 2], [1, 10, 100, 1000]),
      int8([2, 2], [1, 0, 5, 8]),
    );
    assert.deepEqual([...(out.data as Float32Array)], [0, 1, 30, 40, 0, 100, -1000, 0]);
    // scale 1x1 over all, no offset.
    const all = blockwiseShiftScale(data, fp32([1, 1], [0.5]));
    assert.deepEqual([...(all.data as Float32Array)], [0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]);
    // scale 2x1 (per row) on a 3-D tensor with blocks along the first dimension.
    const cube = blockwiseShiftScale(
      int8([4, 1, 2], [1, 1, 1, 1, 1, 1, 1, 1]),
      fp32([2, 1, 1], [2, 3]),
    );
    assert.deepEqual([...(cube.data as Float32Array)], [2, 2, 2, 2, 3, 3, 3, 3]);
  });

  it("computes in half precision when the scale is fp16", () => {
    // 2049 is not a half: (2049 - 0) rounds to 2048 before scaling, as numpy's float16 does.
    const data: Tensor = { dtype: "fp32", shape: [2], data: Float32Array.from([2049, 3]) };
    const out = blockwiseShiftScale(data, fp16([1], [0.1]));
    const s = halfToFloat(floatToHalf(0.1));
    assert.deepEqual(
      [...halfToFloatArray(out.data as Uint16Array)],
      [2048, 3].map((x) => halfToFloat(floatToHalf(x * s))),
    );
  });

  it("reads packed 4-bit data of odd length and int4 offsets", () => {
    const data: Tensor = { dtype: "int4", shape: [1, 5], data: Int8Array.from([-8, -1, 0, 7, 3]) };
    const offset: Tensor = { dtype: "int4", shape: [1, 1], data: Int8Array.from([-1]) };
    const out = blockwiseShiftScale(data, fp32([1, 1], [2]), offset);
    assert.deepEqual([...(out.data as Float32Array)], [-14, 0, 2, 16, 8]);
  });

  it("rejects scales that do not divide the data", () => {
    assert.throws(() => blockwiseShiftScale(int8([3], [1, 2, 3]), fp32([2], [1, 1])), RangeError);
    assert.throws(() => blockwiseShiftScale(int8([3], [1, 2, 3]), fp32([1, 1], [1])), RangeError);
  });
});
