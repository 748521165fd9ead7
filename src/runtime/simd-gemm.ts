/**
 * The `Gemm` signature on the SIMD kernels, for code that multiplies plain Float32Arrays (the
 * neural-network interpreter's convolutions and inner products): operands are copied into the
 * SIMD heap, A packed, B read in place (or packed chunk by chunk when transposed), and C
 * accumulated there before it is copied back. The copies are O(m·k + k·n + m·n) against the
 * product's O(m·n·k), so they pay from a few thousand multiply-adds on. Results differ from
 * `gemm`'s only by rounding (summation order, fused multiply-adds where the host has them).
 */
import { gemm, type Gemm } from "../kernels/ops/matmul.js";
import { packedABytes, runGemm, Start } from "../kernels/simd/gemm.js";
import type { TaskPool } from "../parallel/task-pool.js";
import { parallelGemm } from "./parallel-gemm.js";
import { SimdRuntime } from "./simd.js";

/** Below this many multiply-adds the plain loop beats copying into the heap. */
const MIN_MULTIPLY_ADDS = 16_384;

/** A GEMM on the SIMD kernels (with `pool`'s threads), or the plain one where they cannot run. */
export function fastGemm(pool?: TaskPool): Gemm {
  const plain = pool ? parallelGemm(pool) : gemm;
  const simd = SimdRuntime.create({}, pool);
  if (!simd) return plain;
  const { heap, team } = simd;
  return (m, n, k, a, aOffset, transposeA, b, bOffset, transposeB, c, cOffset) => {
    if (m * n * k < MIN_MULTIPLY_ADDS) {
      plain(m, n, k, a, aOffset, transposeA, b, bOffset, transposeB, c, cOffset);
      return;
    }
    const aAt = heap.allocate(m * k * 4);
    const packedAt = heap.allocate(packedABytes(m, k));
    const bAt = heap.allocate(k * n * 4);
    const cAt = heap.allocate(m * n * 4);
    try {
      heap.floats(aAt, m * k).set(a.subarray(aOffset, aOffset + m * k));
      heap.floats(bAt, k * n).set(b.subarray(bOffset, bOffset + k * n));
      heap.floats(cAt, m * n).set(c.subarray(cOffset, cOffset + m * n));
      // Element (i, p) of A, (p, j) of B, as each is stored (transposed: k×m, n×k).
      const [aRowStride, aColStride] = transposeA ? [4, m * 4] : [k * 4, 4];
      heap.kernels.packA(aAt, aRowStride, aColStride, m, k, packedAt);
      runGemm(team, {
        a: packedAt,
        rows: m,
        k,
        cols: n,
        b: {
          kind: "strided",
          at: bAt,
          rowStride: (transposeB ? 1 : n) * 4,
          colStride: (transposeB ? k : 1) * 4,
        },
        c: cAt,
        ldc: n * 4,
        start: Start.FromC,
      });
      c.set(heap.floats(cAt, m * n), cOffset);
    } finally {
      for (const at of [aAt, packedAt, bAt, cAt]) heap.release(at);
    }
  };
}
