import { test } from "node:test";
import assert from "node:assert/strict";
import {
  channelIndices,
  dequantizeLinear,
  dequantizeLut,
  linearLookupTable,
  nearestEntries,
  packBitsMsbFirst,
  quantizeLinear,
  unpackBitsMsbFirst,
} from "../../src/kernels/neural-quantization.js";
import { roundHalfEven } from "../../src/kernels/rounding.js";

test("roundHalfEven rounds ties to the even neighbour", () => {
  assert.deepEqual(
    [0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven),
    [0, 2, 2, -0, -2, 2, 3],
  );
});

test("indices are packed most significant bit first and padded to whole bytes", () => {
  assert.deepEqual([...packBitsMsbFirst([1, 0, 3], 2)], [0b01001100]);
  assert.deepEqual([...packBitsMsbFirst([5, 2, 7], 3)], [0b10101011, 0b10000000]);
  assert.deepEqual([...packBitsMsbFirst([1], 1)], [0b10000000]);
  assert.deepEqual([...packBitsMsbFirst([], 4)], [0]);
  assert.deepEqual([...packBitsMsbFirst([200, 7], 8)], [200, 7]);
});

test("unpacking inverts packing for every width", () => {
  for (let nbits = 1; nbits <= 8; nbits++) {
    const values = Array.from({ length: 37 }, (_, i) => (i * 7 + 3) % 2 ** nbits);
    const packed = packBitsMsbFirst(values, nbits);
    assert.equal(packed.length, Math.ceil((37 * nbits) / 8));
    assert.deepEqual([...unpackBitsMsbFirst(packed, nbits, values.length)], values);
  }
  assert.throws(() => unpackBitsMsbFirst(new Uint8Array(1), 4, 3), RangeError);
});

test("channels run along axis 0, or axis 1 of rank-4 kernels; rank 1 is one channel", () => {
  assert.deepEqual([...channelIndices({ shape: [2, 3], axis: 0 })], [0, 0, 0, 1, 1, 1]);
  assert.deepEqual([...channelIndices({ shape: [2, 2, 1, 2], axis: 1 })], [0, 0, 1, 1, 0, 0, 1, 1]);
  assert.deepEqual([...channelIndices({ shape: [4], axis: 0 })], [0, 0, 0, 0]);
});

test("asymmetric linear quantization maps each channel's range onto all levels", () => {
  const weights = [0, 1, 2, 3, -1, -1, -1, -1];
  const { indices, scale, bias } = quantizeLinear(weights, { shape: [2, 4], axis: 0 }, 2, false);
  assert.deepEqual([...indices], [0, 1, 2, 3, 0, 0, 0, 0]);
  assert.deepEqual([...scale], [1, 0]);
  assert.deepEqual([...bias], [0, -1]);
  assert.deepEqual(
    [...dequantizeLinear(indices, scale, bias, { shape: [2, 4], axis: 0 })],
    weights,
  );
});

test("symmetric 8-bit quantization centres zero at 128", () => {
  const weights = [-2.54, 0, 1.27, 2.54];
  const { indices, scale, bias } = quantizeLinear(weights, { shape: [4], axis: 0 }, 8, true);
  assert.equal(scale[0], 2.54 / 127);
  assert.equal(bias[0], -128 * (2.54 / 127));
  assert.deepEqual([...indices], [1, 128, 192, 255]);
});

test("linear quantization error is at most half a step per channel", () => {
  const weights = Array.from(
    { length: 600 },
    (_, i) => Math.sin(i * 0.37) * (1 + Math.floor(i / 200)),
  );
  const layout = { shape: [3, 200], axis: 0 } as const;
  for (const nbits of [1, 2, 4, 8]) {
    const { indices, scale, bias } = quantizeLinear(weights, layout, nbits, false);
    const back = dequantizeLinear(indices, scale, bias, layout);
    for (let i = 0; i < weights.length; i++) {
      const step = scale[Math.floor(i / 200)];
      assert.ok(Math.abs(back[i] - weights[i]) <= step / 2 + 1e-6, `nbits ${nbits} element ${i}`);
    }
  }
});

test("linear look-up tables hold evenly spaced values from min to max", () => {
  const { lut, indices } = linearLookupTable([1, 2, 4, 3, 1.4], 2);
  assert.deepEqual([...lut], [1, 2, 3, 4]);
  assert.deepEqual([...indices], [0, 1, 3, 2, 0]);
  assert.deepEqual([...dequantizeLut(indices, lut)], [1, 2, 4, 3, 1]);
});

test("nearestEntries picks the closest table entry", () => {
  assert.deepEqual([...nearestEntries([0.1, 0.9, 5, -3], [1, 0, 4])], [1, 0, 2, 1]);
});
