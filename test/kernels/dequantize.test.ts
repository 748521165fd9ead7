import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { linearDequantize, blockwiseShiftScale } from "../../src/kernels/dequantize.js";
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

describe("linearDequantize", () => {
  it("broadcasts scale and zero point along the axis", () => {
    const q = int8([2, 3], [1, 2, 3, 4, 5, 6]);
    const out = linearDequantize(q, int8([3], [0, 1, 2]), fp32([3], [1, 2, 0.5]), 1);
    assert.deepEqual([...(out.data as Float32Array)], [1, 2, 0.5, 4, 8, 2]);
    const rows = linearDequantize(q, int8([2], [1, 0]), fp32([2], [2, -1]), -2);
    assert.deepEqual([...(rows.data as Float32Array)], [0, 2, 4, -4, -5, -6]);
  });

  it("takes scalar parameters and rounds float32 results to an fp16 scale's type", () => {
    const out = linearDequantize(
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
      () => linearDequantize(int8([2, 3], [0, 0, 0, 0, 0, 0]), int8([], [0]), fp32([2], [1, 1]), 1),
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

/**
 * Per-element references, straight from the op definitions (coordinates → parameter index),
 * for the kernels' table and run-based fast paths to match bit for bit.
 */
function referenceBlockwise(data: Tensor, scale: Tensor, offset?: Tensor): number[] {
  const half = scale.dtype === "fp16" && offset?.dtype !== "fp32";
  const round = half ? (x: number) => halfToFloat(floatToHalf(x)) : Math.fround;
  const toScale = scale.dtype === "fp16" ? (x: number) => halfToFloat(floatToHalf(x)) : Math.fround;
  const values = (t: Tensor) =>
    t.dtype === "fp16" ? [...halfToFloatArray(t.data as Uint16Array)] : [...(t.data as Int8Array)];
  const [q, s, o] = [values(data), values(scale), offset && values(offset)];
  const [rows, cols] = data.shape;
  const [blockRows, blockCols] = [rows / scale.shape[0], cols / scale.shape[1]];
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const p = Math.floor(r / blockRows) * scale.shape[1] + Math.floor(c / blockCols);
      let x = toScale(q[r * cols + c]);
      if (o) x = round(x - o[p]);
      const value = round(s[p] * x);
      out.push(scale.dtype === "fp16" ? floatToHalf(value) : Math.fround(value));
    }
  }
  return out;
}

function referenceAffine(data: Tensor, zero: Tensor, scale: Tensor, axis: number): number[] {
  const s =
    scale.dtype === "fp16"
      ? [...halfToFloatArray(scale.data as Uint16Array)]
      : [...(scale.data as Float32Array)];
  const z = [...(zero.data as Int8Array)];
  const [rows, cols] = data.shape;
  const q = data.data as Int8Array;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const channel = axis === 0 ? r : c;
      const value = Math.fround(
        Math.fround(q[r * cols + c] - z[z.length === 1 ? 0 : channel]) *
          s[s.length === 1 ? 0 : channel],
      );
      out.push(scale.dtype === "fp16" ? floatToHalf(value) : value);
    }
  }
  return out;
}

describe("dequantization fast paths match the per-element definition", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const ints = (dtype: "int8" | "uint8" | "int4" | "uint4", shape: number[]): Tensor => {
    const signed = dtype.startsWith("int");
    const levels = dtype.endsWith("4") ? 16 : 256;
    const min = signed ? -levels / 2 : 0;
    const count = shape.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: count }, () => min + Math.floor(random() * levels));
    return { dtype, shape, data: signed ? Int8Array.from(values) : Uint8Array.from(values) };
  };
  const floats = (dtype: "fp16" | "fp32", shape: number[]) => {
    const values = Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      () => (random() - 0.3) * 0.02,
    );
    return dtype === "fp16" ? fp16(shape, values) : fp32(shape, values);
  };
  const dataShape = [64, 512];
  // Per row (table path), 32-wide blocks (table for 4 bits, direct for 8), 2-D blocks.
  const scaleShapes = [
    [64, 1],
    [64, 16],
    [8, 4],
    [1, 1],
  ];

  it("blockwiseShiftScale, every data type, scale type and offset kind", () => {
    for (const dtype of ["int8", "uint8", "int4", "uint4"] as const) {
      for (const scaleType of ["fp16", "fp32"] as const) {
        for (const shape of scaleShapes) {
          const data = ints(dtype, dataShape);
          const scale = floats(scaleType, shape);
          const offsets = [
            undefined,
            ints(dtype, shape),
            floats("fp16", shape),
            floats("fp32", shape),
          ];
          for (const offset of offsets) {
            const out = blockwiseShiftScale(data, scale, offset);
            assert.deepEqual(
              [...(out.data as Uint16Array | Float32Array)],
              referenceBlockwise(data, scale, offset),
              `${dtype} data, ${scaleType} scale [${shape}], offset ${offset?.dtype ?? "none"}`,
            );
          }
        }
      }
    }
  });

  it("linearDequantize along either axis, vector or scalar parameters", () => {
    for (const scaleType of ["fp16", "fp32"] as const) {
      for (const axis of [0, 1]) {
        const size = dataShape[axis];
        for (const [scaleCount, zeroCount] of [
          [size, size],
          [size, 1],
          [1, size],
          [1, 1],
        ]) {
          const data = ints("int8", dataShape);
          const scale = floats(scaleType, [scaleCount]);
          const zero = ints("int8", [zeroCount]);
          const out = linearDequantize(data, zero, scale, axis);
          assert.deepEqual(
            [...(out.data as Uint16Array | Float32Array)],
            referenceAffine(data, zero, scale, axis),
            `${scaleType} scale ×${scaleCount}, zero ×${zeroCount}, axis ${axis}`,
          );
        }
      }
    }
  });
});
