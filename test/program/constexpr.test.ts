import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Tensor } from "../../src/kernels/dtype.js";
import { floatToHalf } from "../../src/kernels/fp16.js";
import { evaluateConstexpr } from "../../src/program/constexpr.js";
import { FormatError, UnsupportedError } from "../../src/errors.js";

const values = (t: Tensor) => Array.from(t.data as ArrayLike<number>);
const uint1 = (shape: number[], bits: number[]): Tensor => ({
  dtype: "uint1",
  shape,
  data: Uint8Array.from(bits),
});

describe("constexpr op registry", () => {
  it("iOS16 sparse_to_dense reads the mask bytes least significant bit first", () => {
    const [out] = evaluateConstexpr(
      "constexpr_sparse_to_dense",
      {
        nonzero_data: { dtype: "fp32", shape: [3], data: Float32Array.from([1, 2, 3]) },
        // Elements 2, 3 (byte 0 = 0b00001100) and 9 (bit 1 of byte 1) are set.
        mask: { dtype: "uint8", shape: [2], data: Uint8Array.from([0b00001100, 0b00000010]) },
        shape: { dtype: "uint32", shape: [2], data: Uint32Array.from([2, 5]) },
      },
      "op w",
    );
    assert.deepEqual(out.shape, [2, 5]);
    assert.deepEqual(values(out), [0, 0, 1, 2, 0, 0, 0, 0, 0, 3]);
  });

  it("iOS18 sparse_blockwise_shift_scale dequantizes only the set values (docs example)", () => {
    const mask = uint1([4, 4], [1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0]);
    const [outMask, nonzero] = evaluateConstexpr(
      "constexpr_sparse_blockwise_shift_scale",
      {
        data_mask: mask,
        nonzero_data: {
          dtype: "int8",
          shape: [9],
          data: Int8Array.from([10, 11, 3, 4, 5, 6, 7, 8, 9]),
        },
        scale: { dtype: "fp32", shape: [1, 4], data: Float32Array.from([0.1, 0.2, 0.3, 0.4]) },
        offset: { dtype: "int8", shape: [1, 4], data: Int8Array.from([1, 2, 3, 4]) },
      },
      "op w",
    );
    assert.equal(outMask, mask);
    const f = Math.fround;
    const expected = [
      [10 - 1, 0.1],
      [11 - 2, 0.2],
      [3 - 1, 0.1],
      [4 - 2, 0.2],
      [5 - 3, 0.3],
      [6 - 3, 0.3],
      [7 - 4, 0.4],
      [8 - 1, 0.1],
      [9 - 2, 0.2],
    ].map(([d, s]) => f(d * f(s)));
    assert.deepEqual(values(nonzero), expected);
  });

  it("iOS18 lut_to_sparse expands the mask and values of vector tables (docs example)", () => {
    const mask = uint1(
      [4, 6],
      [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0],
    );
    const [outMask, nonzero] = evaluateConstexpr(
      "constexpr_lut_to_sparse",
      {
        indices_mask: mask,
        indices_nonzero_data: uint1([9], [0, 1, 1, 0, 1, 1, 0, 0, 1]),
        lut: { dtype: "fp32", shape: [1, 1, 2, 2], data: Float32Array.from([2, 2, 3, 3]) },
        vector_axis: { dtype: "int32", shape: [], data: Int32Array.from([0]) },
      },
      "op w",
    );
    assert.deepEqual(outMask.shape, [8, 6]);
    assert.deepEqual(values(outMask).slice(0, 12), [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]);
    assert.deepEqual(nonzero.shape, [18]);
    // Row by row of the dense layout: rows 0-1 hold 2,3; rows 2-3 hold 3,2,3; ...
    assert.deepEqual(values(nonzero), [2, 3, 2, 3, 3, 2, 3, 3, 2, 3, 3, 2, 2, 3, 2, 2, 3, 3]);
  });

  it("constexpr_cast widens fp16 to fp32", () => {
    const [out] = evaluateConstexpr(
      "constexpr_cast",
      {
        source_val: {
          dtype: "fp16",
          shape: [2],
          data: Uint16Array.from([0.5, -2].map(floatToHalf)),
        },
        output_dtype: { dtype: "string", shape: [], data: ["fp32"] },
      },
      "op w",
    );
    assert.equal(out.dtype, "fp32");
    assert.deepEqual(values(out), [0.5, -2]);
  });

  it("names the op in errors: unknown types, missing and malformed parameters", () => {
    assert.throws(() => evaluateConstexpr("constexpr_future", {}, "op w"), UnsupportedError);
    assert.throws(
      () => evaluateConstexpr("constexpr_blockwise_shift_scale", {}, "op w"),
      (e: unknown) =>
        e instanceof FormatError && /op w.*lacks parameter data, scale/.test(e.message),
    );
    assert.throws(
      () =>
        evaluateConstexpr(
          "constexpr_blockwise_shift_scale",
          {
            data: { dtype: "int8", shape: [3], data: new Int8Array(3) },
            scale: { dtype: "fp32", shape: [2], data: new Float32Array(2) },
          },
          "op w",
        ),
      FormatError,
    );
  });
});
