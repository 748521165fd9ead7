import assert from "node:assert/strict";
import { test } from "node:test";
import {
  floatToHalf,
  halfToFloat,
  halfToFloatArray,
  floatToHalfArray,
  roundToHalf,
} from "../../src/kernels/fp16.js";

test("every half value survives half → float → half", () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = halfToFloat(bits);
    if (Number.isNaN(value)) {
      assert.ok(Number.isNaN(halfToFloat(floatToHalf(value))), `NaN 0x${bits.toString(16)}`);
      continue;
    }
    assert.equal(floatToHalf(value), bits, `0x${bits.toString(16)} → ${value}`);
  }
});

test("known half values decode exactly", () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.ok(Object.is(halfToFloat(0x8000), -0));
});

test("float → half rounds to nearest, ties to even, and overflows to infinity", () => {
  // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties go to the even one, 1.
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00);
  // 1 + 3·2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(floatToHalf(65520), 0x7c00);
  assert.equal(floatToHalf(65519), 0x7bff);
  assert.equal(floatToHalf(2 ** -25), 0x0000);
  assert.equal(floatToHalf(2 ** -25 + 2 ** -40), 0x0001);
  assert.equal(roundToHalf(0.1), halfToFloat(floatToHalf(0.1)));
});

test("array conversions agree with the scalar ones", () => {
  const floats = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
  const halves = floatToHalfArray(floats);
  assert.deepEqual(
    Array.from(halves),
    Array.from(floats, (f) => floatToHalf(f)),
  );
  assert.deepEqual(
    Array.from(halfToFloatArray(halves)),
    Array.from(halves, (h) => Math.fround(halfToFloat(h))),
  );
});
