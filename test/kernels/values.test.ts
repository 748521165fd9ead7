import assert from "node:assert/strict";
import { test } from "node:test";
import { floatToHalfArray } from "../../src/kernels/fp16.js";
import { hasInfinity } from "../../src/kernels/values.js";

test("hasInfinity finds ±∞ in fp32 and fp16 tensors, and nothing else (NaN, the largest finite)", () => {
  const cases: [number[], boolean][] = [
    [[0, -0, 1.5, 3.4028234663852886e38, -3.4028234663852886e38], false],
    [[NaN, 0.25, -NaN], false],
    [[0.5, Infinity, 2], true],
    [[0.5, 2, -Infinity], true],
  ];
  for (const [values, expected] of cases) {
    const fp32 = {
      dtype: "fp32" as const,
      shape: [values.length],
      data: Float32Array.from(values),
    };
    assert.equal(hasInfinity(fp32), expected, `fp32 ${values}`);
    // A view at an offset reads the same elements.
    const padded = new Float32Array(values.length + 1);
    padded.set(values, 1);
    const view = { ...fp32, data: padded.subarray(1) };
    assert.equal(hasInfinity(view), expected, `fp32 view ${values}`);
    const finite = values.map((v) => (Math.abs(v) > 65504 && Number.isFinite(v) ? 1 : v));
    const fp16 = {
      dtype: "fp16" as const,
      shape: [finite.length],
      data: floatToHalfArray(Float32Array.from(finite)),
    };
    assert.equal(hasInfinity(fp16), expected, `fp16 ${finite}`);
  }
});
