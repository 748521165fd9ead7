import assert from "node:assert/strict";
import { test } from "node:test";
import { roundToHalf } from "../../../src/kernels/fp16.js";
import { palettizeGroups } from "../../../src/kernels/palettize/modes.js";
import { vectorKMeans } from "../../../src/kernels/palettize/vector-kmeans.js";
import { WorkerPool } from "../../../src/parallel/pool.js";
import { referenceVectorKMeans } from "../../support/vector-kmeans-reference.js";

/**
 * Weight-like vectors: correlated heavy-tailed coordinates (a Gaussian scaled by a random
 * spread), a few far outliers, as conv and linear weights are.
 */
function weightVectors(count: number, dim: number, seed: number): Float64Array {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const gaussian = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  const out = new Float64Array(count * dim);
  for (let p = 0; p < count; p++) {
    const spread = 0.02 * (0.5 + next()) * (next() < 0.01 ? 8 : 1);
    const shared = gaussian();
    for (let j = 0; j < dim; j++) out[p * dim + j] = spread * (0.4 * shared + gaussian());
  }
  return out;
}

function squaredError(
  points: Float64Array,
  dim: number,
  centroids: Float64Array,
  labels: Uint8Array,
): number {
  let error = 0;
  for (let p = 0; p < labels.length; p++) {
    for (let j = 0; j < dim; j++)
      error += (points[p * dim + j] - centroids[labels[p] * dim + j]) ** 2;
  }
  return error;
}

/** The nearest centroid's squared distance, by brute force. */
function nearestDistance(points: Float64Array, p: number, dim: number, centroids: Float64Array) {
  let best = Infinity;
  for (let c = 0; c < centroids.length / dim; c++) {
    let d = 0;
    for (let j = 0; j < dim; j++) d += (points[p * dim + j] - centroids[c * dim + j]) ** 2;
    best = Math.min(best, d);
  }
  return best;
}

const SHAPES = [
  { count: 40, dim: 2, k: 16 },
  { count: 3000, dim: 2, k: 16 },
  { count: 30000, dim: 2, k: 16 },
  { count: 5000, dim: 3, k: 8 },
  { count: 6000, dim: 4, k: 4 },
  { count: 20000, dim: 4, k: 16 },
  { count: 2000, dim: 8, k: 64 },
  { count: 1500, dim: 20, k: 8 },
];

test("every point goes to its nearest stored centroid, and the error and Σ v² are theirs", () => {
  for (const [i, { count, dim, k }] of SHAPES.entries()) {
    const points = weightVectors(count, dim, i + 1);
    const label = `${count}×${dim}, k=${k}`;
    const { centroids, assignment, error, signal } = vectorKMeans(points, dim, k, roundToHalf);
    const squares = points.reduce((sum, v) => sum + v * v, 0);
    assert.ok(Math.abs(signal - squares) <= 1e-12 * squares, `${label}: signal ${signal}`);
    assert.ok(
      centroids.every((v) => v === roundToHalf(v)),
      `${label}: centroids rounded`,
    );
    for (let p = 0; p < count; p++) {
      const own = nearestDistance(points, p, dim, centroids.subarray(assignment[p] * dim));
      const nearest = nearestDistance(points, p, dim, centroids);
      assert.ok(own <= nearest * (1 + 1e-12), `${label}: point ${p} not at its nearest centroid`);
    }
    const recomputed = squaredError(points, dim, centroids, assignment);
    assert.ok(Math.abs(error - recomputed) <= 1e-9 * recomputed, `${label}: error ${error}`);
  }
});

test("no worse than the plain reference k-means (three starts converged over every point)", () => {
  let ours = 0;
  let reference = 0;
  for (const [i, { count, dim, k }] of SHAPES.entries()) {
    if (count > 10000) continue; // the reference takes seconds there
    const points = weightVectors(count, dim, 100 + i);
    const fast = vectorKMeans(points, dim, k);
    const plain = referenceVectorKMeans(points, dim, k);
    const fastError = squaredError(points, dim, fast.centroids, fast.assignment);
    const plainError = squaredError(points, dim, plain.centroids, plain.assignment);
    // Local optima differ a little either way (by a few % on these heavy-tailed clouds); over
    // the set the fast one is no worse.
    assert.ok(
      fastError <= plainError * 1.05,
      `${count}×${dim}, k=${k}: ${fastError} vs ${plainError}`,
    );
    console.log(
      `${count}×${dim}, k=${k}: error / reference ${(fastError / plainError).toFixed(4)}`,
    );
    ours += fastError;
    reference += plainError;
  }
  assert.ok(ours <= reference, `total ${ours} > reference ${reference}`);
});

test("deterministic, and the same on a worker thread as inline", async () => {
  const points = weightVectors(60000, 2, 7);
  const first = vectorKMeans(points, 2, 16, Math.fround);
  const again = vectorKMeans(points, 2, 16, Math.fround);
  assert.deepEqual(again, first);
  const input = {
    values: points,
    groupCount: 2,
    clusterDim: 2,
    mode: "kmeans" as const,
    nbits: 4,
    valueType: "fp32" as const,
  };
  const inline = palettizeGroups(input);
  const pool = new WorkerPool(1);
  try {
    const pooled = await pool.run<ReturnType<typeof palettizeGroups>>("palettizeGroups", {
      ...input,
      values: points.slice(),
    });
    assert.deepEqual(pooled.lut, inline.lut);
    assert.deepEqual(pooled.indices, inline.indices);
    assert.equal(pooled.noise, inline.noise);
  } finally {
    await pool.close();
  }
});

test("few distinct vectors are the table; one more is clustered exactly where it can be", () => {
  const rows = [
    [0, 0],
    [0.5, -0.25],
    [1, 1],
  ];
  const points = Float64Array.from(
    { length: 900 * 2 },
    (_, i) => rows[Math.floor(i / 2) % 3][i % 2],
  );
  const exact = vectorKMeans(points, 2, 4);
  assert.equal(exact.error, 0);
  assert.deepEqual(
    Array.from(exact.assignment.slice(0, 3), (a) =>
      Array.from(exact.centroids.subarray(a * 2, a * 2 + 2)),
    ),
    rows,
  );
  // Five distinct vectors for four entries: the two nearest share one.
  const five = Float64Array.from([...points, 10, 10, 10.001, 10]);
  const merged = vectorKMeans(five, 2, 4);
  const expected = 2 * 0.0005 ** 2;
  assert.ok(Math.abs(merged.error - expected) <= 1e-4 * expected, `error ${merged.error}`);
});

test("few distinct vectors are the table (0 and -0 one value, NaN one value), in key order", () => {
  const points = Float64Array.from([2, 3, 0, 1, NaN, 1, -0, 1, 2, 3, NaN, 1, 10, -0]);
  const { centroids, assignment, error } = vectorKMeans(points, 2, 4);
  assert.equal(error, 0);
  // Keys "0,1" < "10,0" < "2,3" < "NaN,1", as strings sort.
  assert.deepEqual(Array.from(centroids), [0, 1, 10, 0, 2, 3, NaN, 1]);
  assert.deepEqual(Array.from(assignment), [2, 0, 3, 0, 2, 3, 1]);
});

test("identical points but one far outlier, and all-zero vectors", () => {
  const points = new Float64Array(5000 * 4).fill(0.25);
  points.set([40, -40, 40, -40], 1234 * 4);
  points.set([0.25, 0.25, 0.25, 0.26], 77 * 4);
  const result = vectorKMeans(points, 4, 2);
  assert.notEqual(result.assignment[1234], result.assignment[0]);
  assert.ok(result.error < 1e-3);
  const zeros = vectorKMeans(new Float64Array(300 * 2), 2, 16);
  assert.equal(zeros.error, 0);
  assert.ok(zeros.assignment.every((a) => a === 0));
});

test("the WebAssembly kernels cluster as the JavaScript loops do, bit for bit (odd sizes, 1 to 8 bits)", () => {
  const cases = [
    { count: 37, dim: 2, k: 2 },
    { count: 1001, dim: 2, k: 16 },
    { count: 2049, dim: 2, k: 8 },
    { count: 9999, dim: 2, k: 16 },
    { count: 50001, dim: 2, k: 4 },
    { count: 60003, dim: 2, k: 16 },
    { count: 12345, dim: 2, k: 64 },
    { count: 7777, dim: 2, k: 256 },
    { count: 777, dim: 4, k: 16 },
    { count: 3001, dim: 4, k: 64 },
  ];
  for (const { count, dim, k } of cases) {
    for (const grid of [0, 1024]) {
      // On a coarse grid (as fp16 values of a narrow range are) many points tie.
      const points = weightVectors(count, dim, count + k + grid);
      if (grid) for (let i = 0; i < points.length; i++) points[i] = Math.round(points[i] * grid);
      const fast = vectorKMeans(points, dim, k, Math.fround, 3);
      const reference = vectorKMeans(points, dim, k, Math.fround, 3, "javascript");
      const what = `${count} × ${dim}, k=${k}${grid ? ", on a grid" : ""}`;
      assert.deepEqual(fast.centroids, reference.centroids, what);
      assert.deepEqual(fast.assignment, reference.assignment, what);
      assert.equal(fast.error, reference.error, what);
      assert.equal(fast.signal, reference.signal, what);
    }
  }
  // A point off the sampled grid by more than 2^31 sub-bins, where JavaScript's `| 0` wraps:
  // the tree is built in JavaScript, then copied to the WebAssembly kernels.
  const points = weightVectors(40001, 2, 7);
  points[2] = 1e12;
  const fast = vectorKMeans(points, 2, 16, Math.fround, 3);
  const reference = vectorKMeans(points, 2, 16, Math.fround, 3, "javascript");
  assert.deepEqual(fast.centroids, reference.centroids);
  assert.deepEqual(fast.assignment, reference.assignment);
  assert.equal(fast.error, reference.error);
});
