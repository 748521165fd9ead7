/**
 * A GEMM that splits large products by output rows between the calling thread and a worker
 * pool. Each output element is computed by the same loop as in the single-thread kernel, so
 * results are bit-identical; operands travel through SharedArrayBuffers.
 */
import { gemm, type Gemm } from "../kernels/ops/matmul.js";
import { runGemmRows, type GemmRowsPayload } from "../kernels/gemm-task.js";
import type { TaskPool } from "../parallel/task-pool.js";

/** Below this many multiply-adds the copies and thread wake-ups cost more than they save. */
const MIN_MULTIPLY_ADDS = 2_000_000;
/** Parts are whole groups of the kernel's four-row blocks. */
const ROW_GRANULE = 4;

/** `gemm`, with large products (A not transposed) shared out across `pool`. */
export function parallelGemm(pool: TaskPool): Gemm {
  // Only pools whose calling thread may block can share a product out.
  const runBlocking = pool.runBlocking?.bind(pool);
  if (pool.size === 0 || !runBlocking) return gemm;
  // Operands are copied into one shared buffer reused across calls: fresh shared memory costs
  // page faults on every product. Calls never overlap, as the calling thread waits for each.
  let scratch = new Float32Array(new SharedArrayBuffer(0));
  return (m, n, k, a, aOffset, transposeA, b, bOffset, transposeB, c, cOffset) => {
    const parts = Math.min(pool.size + 1, Math.floor(m / ROW_GRANULE));
    if (transposeA || parts < 2 || m * n * k < MIN_MULTIPLY_ADDS) {
      gemm(m, n, k, a, aOffset, transposeA, b, bOffset, transposeB, c, cOffset);
      return;
    }
    const [aStart, bStart, cStart, end] = [0, m * k, m * k + k * n, m * k + k * n + m * n];
    if (scratch.length < end) {
      scratch = new Float32Array(new SharedArrayBuffer(end * Float32Array.BYTES_PER_ELEMENT));
    }
    scratch.set(a.subarray(aOffset, aOffset + m * k), aStart);
    scratch.set(b.subarray(bOffset, bOffset + k * n), bStart);
    scratch.set(c.subarray(cOffset, cOffset + m * n), cStart);
    const rowsPerPart = Math.ceil(m / parts / ROW_GRANULE) * ROW_GRANULE;
    const part = (row: number): GemmRowsPayload => ({
      m: Math.min(rowsPerPart, m - row),
      n,
      k,
      a: scratch,
      aOffset: aStart + row * k,
      b: scratch,
      bOffset: bStart,
      transposeB,
      c: scratch,
      cOffset: cStart + row * n,
    });
    const payloads: GemmRowsPayload[] = [];
    for (let row = rowsPerPart; row < m; row += rowsPerPart) payloads.push(part(row));
    runBlocking("gemmRows", payloads, () => runGemmRows(part(0)));
    c.set(scratch.subarray(cStart, end), cOffset);
  };
}
