import assert from "node:assert/strict";
import { test } from "node:test";
import { NearestCentroidKernel } from "../../../src/kernels/palettize/nearest-centroid-simd.js";

/** The scalar rule the kernel must reproduce: Σ (x − c)² in coordinate order, first of equals. */
function nearestByLoop(points: Float64Array, dim: number, centroids: Float64Array, k: number) {
  const labels = new Uint8Array(points.length / dim);
  for (let p = 0; p < labels.length; p++) {
    let nearest = Infinity;
    for (let j = 0; j < k; j++) {
      let d = 0;
      for (let t = 0; t < dim; t++) d += (points[p * dim + t] - centroids[j * dim + t]) ** 2;
      if (d < nearest) {
        nearest = d;
        labels[p] = j;
      }
    }
  }
  return labels;
}

test("the SIMD kernel labels as the scalar loop does (odd counts, ties, 1 to 256 centroids)", () => {
  const kernel = NearestCentroidKernel.load();
  assert.ok(kernel, "WebAssembly SIMD is available on Node 20+");
  let s = 12345;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (const dim of [2, 4] as const) {
    for (const [n, k] of [
      [1, 1],
      [7, 3],
      [1001, 16],
      [2048, 256],
      [333, 64],
    ]) {
      // Coordinates on a coarse grid, so many points sit exactly between two centroids.
      const points = Float64Array.from({ length: n * dim }, () => Math.round(next() * 8) / 4);
      const centroids = Float64Array.from({ length: k * dim }, () => Math.round(next() * 8) / 4);
      for (const order of ["as drawn", "reversed"]) {
        // The second time on the same (already loaded) points with other centroids.
        if (order === "reversed") centroids.reverse();
        const labels: Uint8Array | undefined = kernel.label(points, dim, centroids, k);
        assert.deepEqual(
          Array.from(labels ?? []),
          Array.from(nearestByLoop(points, dim, centroids, k)),
          `${n} × ${dim}, k=${k}, centroids ${order}`,
        );
      }
    }
  }
});
