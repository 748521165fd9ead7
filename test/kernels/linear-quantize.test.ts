import assert from "node:assert/strict";
import { test } from "node:test";
import {
  linearQuantize,
  linearQuantizeKept,
  type LinearQuantized,
  quantizationRange,
} from "../../src/kernels/linear-quantize.js";
import { roundHalfEven } from "../../src/kernels/rounding.js";
import { gatherMaskedBits } from "../../src/kernels/sparse.js";
import { floatToHalfArray, halfToFloat, roundToHalf } from "../../src/kernels/fp16.js";
import { referenceLinearQuantize } from "../support/linear-quantize-reference.js";

test("ranges as coremltools: symmetric drops one end", () => {
  assert.deepEqual(quantizationRange(8, true, "linear_symmetric"), [-127, 127]);
  assert.deepEqual(quantizationRange(8, true, "linear"), [-128, 127]);
  assert.deepEqual(quantizationRange(8, false, "linear_symmetric"), [0, 254]);
  assert.deepEqual(quantizationRange(4, false, "linear"), [0, 15]);
  assert.deepEqual(quantizationRange(4, true, "linear_symmetric"), [-7, 7]);
});

test("round half to even", () => {
  assert.deepEqual(
    [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6].map(roundHalfEven).map((v) => v + 0),
    [0, 2, 2, 0, -2, -2, 2, -3],
  );
});

test("symmetric int8 per channel; all-zero rows give zeros, not NaN", () => {
  const w = {
    dtype: "fp32" as const,
    shape: [2, 3],
    data: Float32Array.of(0, 0, 0, -1, 0.5, 0.25),
  };
  const q = linearQuantize(w, { mode: "linear_symmetric", dtype: "int8", blockSizes: [1, 0] })!;
  assert.deepEqual([...(q.data.data as Int8Array)], [0, 0, 0, -127, 64, 32]);
  assert.deepEqual([...(q.scale.data as Float32Array)], [0, Math.fround(2 / 254)]);
  assert.deepEqual(q.scale.shape, [2, 1]);
  assert.equal(q.zeroPoint, undefined);
});

test("linear mode: range includes 0, zero point rounded and clipped", () => {
  const w = { dtype: "fp32" as const, shape: [1, 4], data: Float32Array.of(1, 2, 3, 4) };
  const q = linearQuantize(w, { mode: "linear", dtype: "uint8", blockSizes: [0, 0] })!;
  assert.deepEqual([...(q.zeroPoint!.data as Uint8Array)], [0]);
  // 2 / fp32(4 / 255) lands just below 127.5.
  assert.deepEqual([...(q.data.data as Uint8Array)], [64, 127, 191, 255]);
  const zeros = linearQuantize(
    { ...w, data: new Float32Array(4) },
    { mode: "linear", dtype: "int8", blockSizes: [0, 0] },
  )!;
  assert.deepEqual(
    [...(zeros.data.data as Int8Array), ...(zeros.zeroPoint!.data as Int8Array)],
    [0, 0, 0, 0, 0],
  );
});

test("fp16 weights get fp16 scales computed in fp16", () => {
  const w = {
    dtype: "fp16" as const,
    shape: [1, 2],
    data: floatToHalfArray(Float32Array.of(0.1, -0.3)),
  };
  const q = linearQuantize(w, { mode: "linear_symmetric", dtype: "int8", blockSizes: [0, 0] })!;
  assert.equal(q.scale.dtype, "fp16");
  const maxAbs = halfToFloat((w.data as Uint16Array)[1]) * -1;
  // (max - min) rounded to fp16, then divided by 254 and rounded to fp16 again.
  const expected = roundToHalf(roundToHalf(2 * maxAbs) / 254);
  assert.equal(halfToFloat((q.scale.data as Uint16Array)[0]), expected);
});

test("blocks must divide their axis", () => {
  const w = { dtype: "fp32" as const, shape: [2, 6], data: new Float32Array(12) };
  assert.equal(linearQuantize(w, { mode: "linear", dtype: "int4", blockSizes: [1, 4] }), undefined);
  assert.deepEqual(
    linearQuantize(w, { mode: "linear", dtype: "int4", blockSizes: [1, 3] })!.scale.shape,
    [2, 2],
  );
});

/** Deterministic values mixing ordinary weights with zeros, tiny, huge and NaN entries. */
function randomFloats(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const unit = state / 2 ** 32;
    const kind = state & 63;
    out[i] =
      kind === 0
        ? 0
        : kind === 1
          ? NaN
          : kind === 2
            ? 1e-7 * unit
            : kind === 3
              ? 6e4 * unit
              : unit * 2 - 1;
  }
  return out;
}

test("the row-wise kernel matches the element-wise reference bit for bit", () => {
  const shapes: [number[], number[][]][] = [
    [
      [8, 64],
      [
        [1, 0],
        [0, 0],
        [1, 32],
        [2, 16],
        [0, 8],
      ],
    ],
    [
      [4, 6, 16],
      [
        [1, 0, 0],
        [0, 3, 0],
        [2, 1, 4],
        [0, 0, 16],
      ],
    ],
    [
      [3, 5, 2, 4],
      [
        [1, 0, 0, 0],
        [1, 5, 1, 2],
      ],
    ],
    // Per column (matmul weights): transposed into rows for the SIMD kernel when fp16.
    [
      [16, 40],
      [
        [0, 1],
        [8, 1],
        [4, 1],
      ],
    ],
  ];
  let seed = 7;
  for (const [shape, blockSizesList] of shapes) {
    const count = shape.reduce((a, b) => a * b, 1);
    for (const blockSizes of blockSizesList) {
      for (const mode of ["linear_symmetric", "linear"] as const) {
        for (const dtype of ["int8", "uint8", "int4", "uint4"] as const) {
          const floats = randomFloats(count, seed++);
          // Some all-zero and tiny-valued stretches, so zero and subnormal scales occur.
          floats.fill(0, 0, 16);
          floats.fill(3e-8, 16, 24);
          for (const weight of [
            { dtype: "fp32" as const, shape, data: floats },
            { dtype: "fp16" as const, shape, data: floatToHalfArray(floats) },
          ]) {
            const spec = { mode, dtype, blockSizes };
            const what = `${weight.dtype} [${shape}] blocks [${blockSizes}] ${mode} ${dtype}`;
            assertSameQuantization(
              linearQuantize(weight, spec),
              referenceLinearQuantize(weight, spec),
              what,
            );
          }
        }
      }
    }
  }
});

test("every finite half pattern quantizes as the element-wise reference does", () => {
  // Rows of consecutive patterns: within a row the quotients sweep densely through many
  // half-integers, where the fast rounding must hand over to the exact path.
  const finite = Uint16Array.from({ length: 65536 }, (_, h) => h).filter(
    (h) => (h & 0x7c00) !== 0x7c00,
  );
  const rows = 62;
  const columns = 1024;
  const weight = {
    dtype: "fp16" as const,
    shape: [rows, columns],
    data: finite.subarray(0, rows * columns),
  };
  for (const mode of ["linear_symmetric", "linear"] as const) {
    for (const dtype of ["int8", "uint8", "int4"] as const) {
      for (const blockSizes of [
        [1, 0],
        [0, 0],
        [1, 64],
      ]) {
        const spec = { mode, dtype, blockSizes };
        assertSameQuantization(
          linearQuantize(weight, spec),
          referenceLinearQuantize(weight, spec),
          `${mode} ${dtype} blocks [${blockSizes}]`,
        );
      }
    }
  }
});

/**
 * Bit-identical data, scales and zero points; the SNR only to rounding, as the SIMD path sums
 * the squared errors in another order.
 */
function assertSameQuantization(
  actual: LinearQuantized | undefined,
  expected: LinearQuantized | undefined,
  what: string,
): void {
  if (!actual || !expected) {
    assert.equal(actual, expected, what);
    return;
  }
  const { snrDb: actualSnr, ...actualRest } = actual;
  const { snrDb: expectedSnr, ...expectedRest } = expected;
  assert.deepEqual(actualRest, expectedRest, what);
  if (Number.isFinite(expectedSnr)) {
    assert.ok(Math.abs(actualSnr - expectedSnr) < 1e-4, `${what}: SNR`);
  } else {
    assert.equal(actualSnr, expectedSnr, `${what}: SNR`);
  }
}

test("weights larger than a band quantize as the element-wise reference does", () => {
  const shape = [304, 1000];
  const floats = randomFloats(304 * 1000, 99);
  for (const weight of [
    { dtype: "fp32" as const, shape, data: floats },
    { dtype: "fp16" as const, shape, data: floatToHalfArray(floats) },
  ]) {
    for (const blockSizes of [
      [1, 0],
      [19, 0],
      [2, 8],
      [0, 0],
      [0, 1],
      [16, 1],
    ]) {
      for (const [mode, dtype] of [
        ["linear_symmetric", "int8"],
        ["linear", "uint4"],
      ] as const) {
        const spec = { mode, dtype, blockSizes };
        assertSameQuantization(
          linearQuantize(weight, spec),
          referenceLinearQuantize(weight, spec),
          `${weight.dtype} blocks [${blockSizes}] ${mode} ${dtype}`,
        );
      }
    }
  }
});

test("quantizing a pruned weight keeps the dense quantization's values at the kept positions", () => {
  const shape = [300, 1000];
  const weight = {
    dtype: "fp16" as const,
    shape,
    data: floatToHalfArray(randomFloats(300_000, 5)),
  };
  const keep = Uint8Array.from({ length: 300_000 / 8 }, (_, i) => (i * 37) & 0xff);
  for (const blockSizes of [
    [1, 0],
    [1, 8],
    [0, 0],
  ]) {
    const spec = { mode: "linear_symmetric" as const, dtype: "int8" as const, blockSizes };
    const dense = linearQuantize(weight, spec)!;
    const kept = linearQuantizeKept(weight, spec, keep)!;
    assert.deepEqual(kept.data, gatherMaskedBits(dense.data, keep), `blocks [${blockSizes}]`);
    assert.deepEqual(kept.scale, dense.scale);
  }
});
