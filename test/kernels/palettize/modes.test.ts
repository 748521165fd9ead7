import assert from "node:assert/strict";
import { test } from "node:test";
import { floatToHalf, halfToFloat } from "../../../src/kernels/fp16.js";
import { distinctHalfWithCounts } from "../../../src/kernels/palettize/kmeans1d.js";
import { palettizeGroups } from "../../../src/kernels/palettize/modes.js";

function randomHalves(count: number, seed: number): Uint16Array {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Uint16Array.from({ length: count }, () =>
    floatToHalf((next() + next() + next() - 1.5) * 0.2),
  );
}

test("half histogram lists distinct values ascending, ±0 once (as -0 if present), no NaN", () => {
  const bits = Uint16Array.of(
    floatToHalf(1.5),
    0x8000,
    floatToHalf(-2),
    0x7e00, // NaN
    0,
    floatToHalf(1.5),
    floatToHalf(-0.25),
    0xfc00, // -infinity
  );
  const { values, counts, bits: patterns } = distinctHalfWithCounts(bits);
  assert.deepEqual(Array.from(values), [-Infinity, -2, -0.25, -0, 1.5]);
  assert.deepEqual(Array.from(counts), [1, 1, 1, 2, 2]);
  assert.deepEqual(Array.from(patterns, halfToFloat), Array.from(values));
  // The histogram is left clean: a second call sees only its own data.
  assert.deepEqual(Array.from(distinctHalfWithCounts(Uint16Array.of(0x3c00)).counts), [1]);
});

test("k-means on half patterns equals k-means on their decoded values", () => {
  const halfBits = randomHalves(4 * 3000, 5);
  const values = Float64Array.from(halfBits, halfToFloat);
  for (const mode of ["kmeans", "unique"] as const) {
    const bits = mode === "unique" ? halfBits.map((b) => b & 0xfc00) : halfBits;
    const decoded = mode === "unique" ? Float64Array.from(bits, halfToFloat) : values;
    const common = { groupCount: 4, clusterDim: 1, mode, nbits: mode === "unique" ? 6 : 4 };
    const fromHalf = palettizeGroups({ ...common, halfBits: bits, valueType: "fp16" });
    // Without half patterns the values go through the generic sort-based path.
    const fromValues = palettizeGroups({ ...common, values: decoded, valueType: "fp64" });
    assert.deepEqual(fromHalf.lut, fromValues.lut, mode);
    assert.deepEqual(fromHalf.indices, fromValues.indices, mode);
  }
});
