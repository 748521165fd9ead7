/** The GEMM over a range of output rows, as a worker task (see parallel/tasks.ts). */
import { gemm } from "./ops/matmul.js";

/** C[m×n] += A[m×k] · B (B is k×n, or n×k when transposed); C is written in place. */
export interface GemmRowsPayload {
  m: number;
  n: number;
  k: number;
  a: Float32Array;
  aOffset: number;
  b: Float32Array;
  bOffset: number;
  transposeB: boolean;
  c: Float32Array;
  cOffset: number;
}

export function runGemmRows(p: GemmRowsPayload): void {
  gemm(p.m, p.n, p.k, p.a, p.aOffset, false, p.b, p.bOffset, p.transposeB, p.c, p.cOffset);
}
