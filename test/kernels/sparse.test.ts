import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  countSetBits,
  gatherMasked,
  gatherMaskedBits,
  repeatAlongAxis,
  sparseToDense,
  sparseToDenseBits,
} from "../../src/kernels/sparse.js";
import { packSubByte } from "../../src/kernels/bitpack.js";
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

describe("packed-mask sparse kernels", () => {
  it("match the per-element ones for every element width and odd lengths", () => {
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const arrays = {
      int8: Int8Array,
      fp16: Uint16Array,
      fp32: Float32Array,
      int64: BigInt64Array,
    } as const;
    for (const length of [0, 1, 7, 8, 9, 64, 1001]) {
      for (const density of [0, 0.3, 1]) {
        const mask = Uint8Array.from({ length }, () => (random() < density ? 1 : 0));
        const packed = packSubByte(mask, 1);
        const kept = mask.reduce((a, b) => a + b, 0);
        assert.equal(countSetBits(packed, length), kept);
        for (const [dtype, ArrayType] of Object.entries(arrays)) {
          const values =
            ArrayType === BigInt64Array
              ? BigInt64Array.from({ length: kept }, (_, i) => BigInt(i + 1))
              : (ArrayType as Float32ArrayConstructor).from({ length: kept }, (_, i) => i + 1);
          const nonzero = { dtype, shape: [kept], data: values } as Tensor;
          const dense = sparseToDense(nonzero, mask, [length]);
          const fromBits = sparseToDenseBits(nonzero, packed, [length]);
          assert.deepEqual(fromBits, dense, `${dtype} × ${length}, density ${density}`);
          assert.deepEqual(gatherMaskedBits(dense, packed), gatherMasked(dense, mask));
        }
      }
    }
  });

  it("ignores padding bits past the shape and rejects a short mask or wrong count", () => {
    const nonzero: Tensor = { dtype: "int8", shape: [1], data: Int8Array.from([5]) };
    const out = sparseToDenseBits(nonzero, Uint8Array.of(0b1110_0001), [3]);
    assert.deepEqual([...(out.data as Int8Array)], [5, 0, 0]);
    assert.throws(() => sparseToDenseBits(nonzero, Uint8Array.of(1), [9]), RangeError);
    assert.throws(() => sparseToDenseBits(nonzero, Uint8Array.of(3), [8]), RangeError);
  });
});
