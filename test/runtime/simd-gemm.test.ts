import assert from "node:assert/strict";
import { test } from "node:test";
import { gemm } from "../../src/kernels/ops/matmul.js";
import { WorkerPool } from "../../src/parallel/pool.js";
import { fastGemm } from "../../src/runtime/simd-gemm.js";

/** Deterministic values in [-1, 1) from a linear congruential sequence. */
function pseudoRandom(length: number, seed: number): Float32Array {
  const data = new Float32Array(length);
  let state = seed;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = state / 2 ** 31 - 1;
  }
  return data;
}

/** Largest |a − b| relative to the largest |b|. */
function relativeError(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return worst / scale;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [5, 7, 3],
  [13, 29, 37],
  [64, 169, 576],
  [33, 1, 100],
  [3, 2000, 17],
];

for (const pooled of [false, true]) {
  test(`the SIMD GEMM${pooled ? " on a pool" : ""} accumulates what the plain one does, every transposition and offset`, async () => {
    const pool = pooled ? new WorkerPool(2) : undefined;
    try {
      const multiply = fastGemm(pool);
      for (const [m, n, k] of SHAPES) {
        for (const transposeA of [false, true]) {
          for (const transposeB of [false, true]) {
            const [aOffset, bOffset, cOffset] = [3, 5, 7];
            const a = pseudoRandom(aOffset + m * k, m + 1);
            const b = pseudoRandom(bOffset + k * n, n + 2);
            const expected = pseudoRandom(cOffset + m * n + 4, k + 3);
            const actual = expected.slice();
            gemm(m, n, k, a, aOffset, transposeA, b, bOffset, transposeB, expected, cOffset);
            multiply(m, n, k, a, aOffset, transposeA, b, bOffset, transposeB, actual, cOffset);
            const where = `${m}×${n}×${k} transposed ${transposeA}/${transposeB}`;
            assert.ok(relativeError(actual, expected) < 1e-5, where);
            // Outside C's window nothing changes.
            const untouched = pseudoRandom(cOffset + m * n + 4, k + 3);
            assert.deepEqual(actual.subarray(0, cOffset), untouched.subarray(0, cOffset), where);
            assert.deepEqual(actual.subarray(cOffset + m * n), untouched.subarray(cOffset + m * n));
          }
        }
      }
    } finally {
      await pool?.close();
    }
  });
}
