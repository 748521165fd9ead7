import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { packSubByte } from "../../src/kernels/bitpack.js";
import { lutToDense, lutToDensePacked } from "../../src/kernels/lut.js";
import type { Tensor } from "../../src/kernels/dtype.js";

const values = (t: Tensor) => Array.from(t.data as ArrayLike<number>);

describe("lutToDensePacked (iOS16)", () => {
  it("reads 2-bit indices from the least significant bits up, odd length", () => {
    // Indices 0,3,2,1,3 packed: byte 0 = 0b01_10_11_00, byte 1 = 0b11.
    const packed = Uint8Array.from([0b01101100, 0b00000011]);
    const lut: Tensor = { dtype: "fp32", shape: [4], data: Float32Array.from([10, 11, 12, 13]) };
    const out = lutToDensePacked(packed, lut, [5]);
    assert.deepEqual(values(out), [10, 13, 12, 11, 13]);
  });

  it("reads 6-bit indices split across bytes and keeps fp16 bits exact", () => {
    const indices = [63, 1, 62, 5, 33];
    const lut: Tensor = {
      dtype: "fp16",
      shape: [64],
      data: Uint16Array.from({ length: 64 }, (_, i) => 0x3c00 + i),
    };
    const out = lutToDensePacked(packSubByte(indices, 6), lut, [5, 1]);
    assert.deepEqual(out.shape, [5, 1]);
    assert.deepEqual(
      values(out),
      indices.map((i) => 0x3c00 + i),
    );
  });

  it("rejects a table whose size is not a power of two bits allows, or short indices", () => {
    const lut3: Tensor = { dtype: "fp32", shape: [3], data: new Float32Array(3) };
    assert.throws(() => lutToDensePacked(new Uint8Array(1), lut3, [2]), RangeError);
    const lut4: Tensor = { dtype: "fp32", shape: [4], data: new Float32Array(4) };
    assert.throws(() => lutToDensePacked(new Uint8Array(1), lut4, [5]), RangeError);
  });
});

describe("lutToDense (iOS18)", () => {
  it("uses one table per block of indices", () => {
    // The coremltools docs' example: 2 groups along dim 0 of a [6, 2] tensor, 4 palettes each.
    const indices: Tensor = {
      dtype: "uint2",
      shape: [6, 2],
      data: Uint8Array.from([2, 3, 3, 0, 1, 0, 3, 0, 2, 1, 0, 3]),
    };
    const lut: Tensor = {
      dtype: "fp32",
      shape: [2, 1, 4, 1],
      data: Float32Array.from([1, 5, 9, 13, 2, 10, 18, 26]),
    };
    const out = lutToDense(indices, lut);
    assert.deepEqual(out.shape, [6, 2]);
    assert.deepEqual(values(out), [9, 13, 13, 1, 5, 1, 26, 2, 18, 10, 2, 26]);
  });

  it("groups along the last dimension too", () => {
    const indices: Tensor = { dtype: "uint1", shape: [1, 4], data: Uint8Array.from([0, 1, 1, 0]) };
    const lut: Tensor = {
      dtype: "int8",
      shape: [1, 2, 2, 1],
      data: Int8Array.from([1, 2, -1, -2]),
    };
    assert.deepEqual(values(lutToDense(indices, lut)), [1, 2, -2, -1]);
  });

  it("expands vector entries along the vector axis", () => {
    // The coremltools docs' example: indices [2,2,2], 2 palettes of 3-vectors.
    const indices: Tensor = {
      dtype: "uint1",
      shape: [2, 2, 2],
      data: Uint8Array.from([0, 0, 1, 0, 1, 1, 0, 0]),
    };
    const [a0, a1, a2, b0, b1, b2] = [1, 2, 3, 11, 12, 13];
    const lut: Tensor = {
      dtype: "fp32",
      shape: [1, 1, 1, 2, 3],
      data: Float32Array.from([a0, a1, a2, b0, b1, b2]),
    };
    const axis1 = lutToDense(indices, lut, 1);
    assert.deepEqual(axis1.shape, [2, 6, 2]);
    assert.deepEqual(values(axis1), [
      a0,
      a0,
      a1,
      a1,
      a2,
      a2,
      b0,
      a0,
      b1,
      a1,
      b2,
      a2,
      b0,
      b0,
      b1,
      b1,
      b2,
      b2,
      a0,
      a0,
      a1,
      a1,
      a2,
      a2,
    ]);
    const axis2 = lutToDense(indices, lut, -1);
    assert.deepEqual(axis2.shape, [2, 2, 6]);
    assert.deepEqual(values(axis2), [
      a0,
      a1,
      a2,
      a0,
      a1,
      a2,
      b0,
      b1,
      b2,
      a0,
      a1,
      a2,
      b0,
      b1,
      b2,
      b0,
      b1,
      b2,
      a0,
      a1,
      a2,
      a0,
      a1,
      a2,
    ]);
  });

  it("rejects vector tables without an axis and tables of the wrong rank", () => {
    const indices: Tensor = { dtype: "uint1", shape: [2], data: Uint8Array.from([0, 1]) };
    const vectors: Tensor = { dtype: "fp32", shape: [1, 2, 2], data: new Float32Array(4) };
    assert.throws(() => lutToDense(indices, vectors), RangeError);
    const flat: Tensor = { dtype: "fp32", shape: [2], data: new Float32Array(2) };
    assert.throws(() => lutToDense(indices, flat), RangeError);
  });
});
