import assert from "node:assert/strict";
import { test } from "node:test";
import {
  clusteringError,
  distinctWithCounts,
  histogramKMeans1D,
  optimalKMeans1D,
} from "../../../src/kernels/palettize/kmeans1d.js";

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

/** Best error over every way to cut n sorted points into k contiguous runs. */
function bruteForce(values: Float64Array, weights: Float64Array, k: number): number {
  const n = values.length;
  let best = Infinity;
  const cuts: number[] = [];
  const runError = (a: number, b: number) => {
    let w = 0;
    let s = 0;
    for (let i = a; i < b; i++) {
      w += weights[i];
      s += weights[i] * values[i];
    }
    const mu = s / w;
    let e = 0;
    for (let i = a; i < b; i++) e += weights[i] * (values[i] - mu) ** 2;
    return e;
  };
  const recurse = (start: number, left: number) => {
    if (left === 1) {
      const bounds = [0, ...cuts, n];
      let total = 0;
      for (let i = 0; i + 1 < bounds.length; i++) total += runError(bounds[i], bounds[i + 1]);
      best = Math.min(best, total);
      return;
    }
    for (let c = start + 1; c <= n - left + 1; c++) {
      cuts.push(c);
      recurse(c, left - 1);
      cuts.pop();
    }
  };
  recurse(0, k);
  return best;
}

test("optimal 1-D k-means matches brute force on small weighted inputs", () => {
  const next = lcg(7);
  for (let trial = 0; trial < 60; trial++) {
    const n = 2 + Math.floor(next() * 10);
    const k = 1 + Math.floor(next() * Math.min(n, 5));
    const raw = Array.from({ length: n }, () => Math.round((next() * 4 - 2) * 100) / 100);
    const { values } = distinctWithCounts(raw);
    const weights = Float64Array.from(values, () => 1 + Math.floor(next() * 5));
    const { centroids, assignment } = optimalKMeans1D(values, weights, k);
    const error = clusteringError(values, weights, centroids, assignment);
    const expected = bruteForce(values, weights, Math.min(k, values.length));
    assert.ok(
      Math.abs(error - expected) <= 1e-9 * (1 + expected),
      `trial ${trial}: ${error} vs ${expected}`,
    );
  }
});

test("centroids are sorted and no cluster is empty when values suffice", () => {
  const next = lcg(3);
  const raw = Array.from({ length: 5000 }, () => next() ** 3 - 0.2);
  const { values, counts } = distinctWithCounts(raw);
  const { centroids, assignment } = optimalKMeans1D(values, counts, 16);
  assert.equal(centroids.length, 16);
  for (let i = 1; i < 16; i++) assert.ok(centroids[i] > centroids[i - 1]);
  const used = new Set(assignment);
  assert.equal(used.size, 16);
});

test("fewer distinct values than clusters keeps every value as its own entry", () => {
  const { centroids, assignment } = optimalKMeans1D(
    Float64Array.of(-1, 0.5, 2),
    Float64Array.of(3, 1, 2),
    8,
  );
  assert.deepEqual(Array.from(centroids), [-1, 0.5, 2]);
  assert.deepEqual(Array.from(assignment), [0, 1, 2]);
});

test("histogram-seeded Lloyd is within a hair of the exact optimum", () => {
  const next = lcg(11);
  const raw = Array.from({ length: 20000 }, () => (next() + next() + next() - 1.5) * 0.1);
  const { values, counts } = distinctWithCounts(raw);
  const exact = optimalKMeans1D(values, counts, 16);
  const approx = histogramKMeans1D(values, counts, 16, 512);
  const e1 = clusteringError(values, counts, exact.centroids, exact.assignment);
  const e2 = clusteringError(values, counts, approx.centroids, approx.assignment);
  assert.ok(e2 <= e1 * 1.001, `${e2} vs ${e1}`);
});
