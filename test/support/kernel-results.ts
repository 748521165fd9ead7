/**
 * Computations on the kernels that have WebAssembly versions, as JSON-friendly arrays: run in
 * two processes (with and without WebAssembly) by test/kernels/wasm-fallback.test.ts.
 */
import { floatToHalfArray } from "../../src/kernels/fp16.js";
import { linearQuantize } from "../../src/kernels/linear-quantize.js";
import {
  distinctHalfWithCounts,
  optimalKMeans1D,
  optimalKMeans1DWithin,
} from "../../src/kernels/palettize/kmeans1d.js";
import { pruneByMagnitude } from "../../src/kernels/prune.js";

/** Deterministic fp16 weights: a mix of magnitudes, signs, zeros and subnormals. */
function halves(count: number, seed: number): Uint16Array {
  const floats = new Float32Array(count);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const unit = state / 2 ** 32;
    floats[i] = state % 97 === 0 ? 0 : state % 89 === 0 ? 3e-7 : (unit * 2 - 1) ** 3;
  }
  return floatToHalfArray(floats);
}

/** What both processes compute. */
export function kernelResults() {
  const out: unknown[] = [];
  for (let seed = 1; seed <= 6; seed++) {
    const bits = halves(64 * (190 + 16 * seed), seed);
    const { values, counts } = distinctHalfWithCounts(bits);
    for (const k of [4, 16]) {
      const { centroids, assignment } = optimalKMeans1D(values, counts, k);
      out.push([...centroids], [...assignment]);
    }
    // Windows too narrow above (every layer stops just past the next one's first end point)
    // and below (every layer starts at the last): both must be refused.
    const n = values.length;
    const lowest = Int32Array.from({ length: 16 }, (_, m) => (m === 15 ? n - 1 : m));
    const justPast = Int32Array.from({ length: 16 }, (_, m) => (m >= 14 ? n - 1 : m + 1));
    const top = new Int32Array(16).fill(n - 1);
    out.push(
      optimalKMeans1DWithin(values, counts, 16, { starts: lowest, ends: justPast }) ?? "refused",
      optimalKMeans1DWithin(values, counts, 16, { starts: top, ends: top }) ?? "refused",
    );
    for (const spec of [
      { mode: "linear_symmetric" as const, dtype: "int8" as const, blockSizes: [1, 0] },
      { mode: "linear" as const, dtype: "uint8" as const, blockSizes: [0, 0] },
      { mode: "linear_symmetric" as const, dtype: "int4" as const, blockSizes: [1, 32] },
    ]) {
      const weight = { dtype: "fp16" as const, shape: [bits.length / 64, 64], data: bits };
      const q = linearQuantize(weight, spec)!;
      out.push([...q.data.data], [...q.scale.data], q.zeroPoint ? [...q.zeroPoint.data] : null);
    }
    // Odd lengths leave a tail for the JavaScript loop; infinities and NaNs stay when pruned.
    const pruned = bits.slice(0, bits.length - seed);
    pruned.set([0x7c00, 0xfe00, 0x8000, 0], seed * 7);
    for (const sparsity of [0, 0.3, 0.5, 0.97, 1]) {
      const result = pruneByMagnitude(
        { dtype: "fp16", shape: [pruned.length], data: pruned },
        sparsity,
      );
      if (result.kind === "sparse")
        out.push([...result.weight.mask], [...result.weight.nonzeroData]);
    }
  }
  return out;
}
