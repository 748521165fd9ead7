import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gatherMasked, repeatAlongAxis, sparseToDense } from "../../src/kernels/sparse.js";
import type { Tensor } from "../../src/kernels/dtype.js";

const values = (t: Tensor) => Array.from(t.data as ArrayLike<number>);

describe("sparse kernels", () => {
  it("scatters values into the set mask positions, zeros elsewhere", () => {
    const nonzero: Tensor = {
      dtype: "fp16",
      shape: [3],
      data: Uint16Array.from([0x3c00, 0xbc00, 0x4000]),
    };
    const out = sparseToDense(nonzero, [0, 1, 0, 0, 1, 1, 0], [7]);
    assert.equal(out.dtype, "fp16");
    assert.deepEqual(values(out), [0, 0x3c00, 0, 0, 0xbc00, 0x4000, 0]);
  });

  it("rejects a mask whose set bits do not match the values", () => {
    const nonzero: Tensor = { dtype: "int8", shape: [2], data: Int8Array.from([1, 2]) };
    assert.throws(() => sparseToDense(nonzero, [1, 0, 0], [3]), RangeError);
    assert.throws(() => sparseToDense(nonzero, [1, 1, 1], [3]), RangeError);
  });

  it("gathers the masked elements in order", () => {
    const dense: Tensor = { dtype: "int8", shape: [2, 2], data: Int8Array.from([5, -6, 7, -8]) };
    const out = gatherMasked(dense, [1, 0, 0, 1]);
    assert.deepEqual(out.shape, [2]);
    assert.deepEqual(values(out), [5, -8]);
  });

  it("repeats elements along an axis as numpy.repeat does", () => {
    const mask: Tensor = {
      dtype: "uint1",
      shape: [2, 3],
      data: Uint8Array.from([1, 0, 1, 0, 1, 0]),
    };
    const rows = repeatAlongAxis(mask, 0, 2);
    assert.deepEqual(rows.shape, [4, 3]);
    assert.deepEqual(values(rows), [1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0]);
    const cols = repeatAlongAxis(mask, -1, 2);
    assert.deepEqual(cols.shape, [2, 6]);
    assert.deepEqual(values(cols), [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0]);
  });
});
