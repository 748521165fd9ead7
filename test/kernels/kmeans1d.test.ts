import { test } from "node:test";
import assert from "node:assert/strict";
import { kmeans1d } from "../../src/kernels/kmeans1d.js";

function squaredError(values: number[], centroids: Float64Array, labels: Uint16Array): number {
  return values.reduce((sum, v, i) => sum + (v - centroids[labels[i]]) ** 2, 0);
}

/** Best error over every way to cut the sorted values into k contiguous runs. */
function bruteForceOptimum(values: number[], k: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  let best = Infinity;
  const cuts = (start: number, left: number, acc: number): void => {
    if (left === 1) {
      const run = sorted.slice(start);
      const mean = run.reduce((a, b) => a + b, 0) / run.length;
      best = Math.min(best, acc + run.reduce((s, v) => s + (v - mean) ** 2, 0));
      return;
    }
    for (let end = start + 1; end <= sorted.length - left + 1; end++) {
      const run = sorted.slice(start, end);
      const mean = run.reduce((a, b) => a + b, 0) / run.length;
      cuts(end, left - 1, acc + run.reduce((s, v) => s + (v - mean) ** 2, 0));
    }
  };
  cuts(0, k, 0);
  return best;
}

test("small problems are solved exactly", () => {
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 4 - 2;
  for (const k of [1, 2, 3, 4]) {
    const values = Array.from({ length: 11 }, random);
    const { centroids, labels } = kmeans1d(values, k);
    assert.equal(centroids.length, k);
    const error = squaredError(values, centroids, labels);
    assert.ok(Math.abs(error - bruteForceOptimum(values, k)) < 1e-9, `k=${k}`);
  }
});

test("repeated values count with their multiplicity and fewer distinct values than k each get a centre", () => {
  const { centroids, labels } = kmeans1d([3, 3, 3, 1, 1, 2], 8);
  assert.deepEqual([...centroids], [1, 2, 3]);
  assert.deepEqual([...labels], [2, 2, 2, 0, 0, 1]);
  const weighted = kmeans1d([0, 0, 0, 0, 10, 11], 2);
  assert.deepEqual([...weighted.centroids], [0, 10.5]);
});

test("large problems use Lloyd iterations and still cluster well", () => {
  const values = Array.from(
    { length: 200_000 },
    (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1,
  );
  const { centroids, labels } = kmeans1d(values, 64);
  assert.ok(centroids.length <= 64 && centroids.length > 60);
  const mse = squaredError(values, centroids, labels) / values.length;
  // Uniform data on (-1, 1): the optimum with 64 equal cells is (2/64)^2 / 12.
  assert.ok(mse < (1.1 * (2 / 64) ** 2) / 12, `mse ${mse}`);
});
