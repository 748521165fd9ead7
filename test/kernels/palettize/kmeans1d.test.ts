import assert from "node:assert/strict";
import { test } from "node:test";
import {
  clusteringError,
  distinctWithCounts,
  histogramKMeans1D,
  kmeans1DCentroids,
  optimalKMeans1D,
  optimalKMeans1DWithin,
} from "../../../src/kernels/palettize/kmeans1d.js";
import { floatToHalf, halfToFloat } from "../../../src/kernels/fp16.js";

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

/** Minimal error of k runs over sorted weighted points: the plain O(k·n²) program. */
function quadraticOptimum(values: Float64Array, weights: Float64Array, k: number): number {
  const n = values.length;
  const w = new Float64Array(n + 1);
  const s = new Float64Array(n + 1);
  const s2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    w[i + 1] = w[i] + weights[i];
    s[i + 1] = s[i] + weights[i] * values[i];
    s2[i + 1] = s2[i] + weights[i] * values[i] * values[i];
  }
  const cost = (a: number, b: number) => {
    const sum = s[b] - s[a];
    return s2[b] - s2[a] - (sum * sum) / (w[b] - w[a]);
  };
  let layer = Float64Array.from({ length: n + 1 }, (_, i) => (i === 0 ? 0 : cost(0, i)));
  for (let m = 2; m <= k; m++) {
    const next = new Float64Array(n + 1).fill(Infinity);
    for (let end = m; end <= n; end++) {
      for (let start = m - 1; start < end; start++) {
        next[end] = Math.min(next[end], layer[start] + cost(start, end));
      }
    }
    layer = next;
  }
  return layer[n];
}

test("large inputs (layers solved only where needed) still reach the optimum", () => {
  const next = lcg(11);
  const shapes: Record<string, () => number> = {
    gaussian: () => next() + next() + next() + next() - 2,
    skewed: () => next() ** 4,
    grid: () => Math.floor(next() * 400),
  };
  for (const [name, draw] of Object.entries(shapes)) {
    for (const k of [4, 16, 24]) {
      const { values, counts } = distinctWithCounts(Array.from({ length: 3000 }, draw));
      const { centroids, assignment } = optimalKMeans1D(values, counts, k);
      const error = clusteringError(values, counts, centroids, assignment);
      const optimum = quadraticOptimum(values, counts, k);
      assert.ok(error <= optimum * (1 + 1e-9) + 1e-12, `${name} k=${k}: ${error} > ${optimum}`);
    }
  }
});

/**
 * Assignment of the same program without windows: every end point of every layer, filled by
 * divide and conquer, same cost formula and first-minimum ties. The solver guesses windows
 * and must detect when one was too narrow, so its result may never differ from this.
 */
function everyEndPointAssignment(values: Float64Array, weights: Float64Array, k: number) {
  const n = values.length;
  const w = new Float64Array(n + 1);
  const s = new Float64Array(n + 1);
  const s2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    w[i + 1] = weights[i] + w[i];
    s[i + 1] = weights[i] * values[i] + s[i];
    s2[i + 1] = weights[i] * values[i] * values[i] + s2[i];
  }
  const cost = (j: number, i: number) => {
    const weight = w[i + 1] - w[j];
    const sum = s[i + 1] - s[j];
    const mu = sum / weight;
    return s2[i + 1] - s2[j] + weight * (mu * mu) - 2 * mu * sum;
  };
  let previous = Float64Array.from({ length: n }, (_, i) => cost(0, i));
  const splits: Int32Array[] = [new Int32Array(n)];
  for (let m = 1; m < k; m++) {
    const current = new Float64Array(n);
    const split = new Int32Array(n);
    const below = splits[m - 1];
    const fill = (lo: number, hi: number, optLo: number, optHi: number): void => {
      if (lo > hi) return;
      const mid = (lo + hi) >>> 1;
      let best = Infinity;
      let bestJ = -1;
      const first = Math.max(optLo, m > 1 ? below[mid] : m);
      for (let j = first; j <= Math.min(mid, optHi); j++) {
        const c = previous[j - 1] + cost(j, mid);
        if (c < best) [best, bestJ] = [c, j];
      }
      current[mid] = best;
      split[mid] = bestJ;
      fill(lo, mid - 1, optLo, bestJ);
      fill(mid + 1, hi, bestJ, optHi);
    };
    fill(m, n - 1, m, n - 1);
    splits.push(split);
    previous = current;
  }
  const assignment = new Uint16Array(n);
  let end = n;
  for (let m = k - 1; m >= 0; m--) {
    const start = m === 0 ? 0 : splits[m][end - 1];
    assignment.fill(m, start, end);
    end = start;
  }
  return assignment;
}

test("windowed layers give the assignment of every end point, also where the guesses fail", () => {
  const next = lcg(5);
  const gaussian = () => next() + next() + next() + next() - 2;
  const shapes: Record<string, () => number> = {
    gaussian,
    heavyTailed: () => gaussian() / (next() + 0.01),
    clustered: () => Math.floor(next() * 5) * 10 + gaussian() * 0.3,
    bimodal: () => (next() < 0.9 ? gaussian() : 50 + gaussian()),
    halves: () => halfToFloat(floatToHalf(gaussian() * 0.05)),
  };
  for (const [name, draw] of Object.entries(shapes)) {
    for (const k of [8, 16, 64]) {
      const { values, counts } = distinctWithCounts(Array.from({ length: 12000 }, draw));
      const { assignment } = optimalKMeans1D(values, counts, k);
      const expected = everyEndPointAssignment(values, counts, k);
      assert.ok(
        assignment.every((a, i) => a === expected[i]),
        `${name} k=${k}: assignments differ`,
      );
    }
  }
});

test("windows too narrow above or below are refused, full windows are exact", () => {
  const next = lcg(9);
  const { values, counts } = distinctWithCounts(
    Array.from({ length: 8000 }, () => next() + next() + next() - 1.5),
  );
  const n = values.length;
  const k = 16;
  const expected = everyEndPointAssignment(values, counts, k);
  const full = optimalKMeans1DWithin(values, counts, k);
  assert.ok(full?.assignment.every((a, i) => a === expected[i]));

  // Every layer solved from its lowest end point, but only one point beyond the next layer's
  // first: layers above need starts past where this one stops.
  const starts = Int32Array.from({ length: k }, (_, m) => (m === k - 1 ? n - 1 : m));
  const ends = Int32Array.from({ length: k }, (_, m) => (m >= k - 2 ? n - 1 : m + 1));
  assert.equal(optimalKMeans1DWithin(values, counts, k, { starts, ends }), undefined);

  // Every layer solved up to the end but only over its top points: layers above need starts
  // under where this one begins.
  const high = Int32Array.from({ length: k }, () => n - 1);
  const whole = Int32Array.from({ length: k }, () => n - 1);
  assert.equal(optimalKMeans1DWithin(values, counts, k, { starts: high, ends: whole }), undefined);
});

test("raw values cluster with their multiplicity, and fewer distinct values than k each get a centre", () => {
  const centres = (values: number[], k: number) => [
    ...kmeans1DCentroids({ values: Float64Array.from(values), k }),
  ];
  assert.deepEqual(centres([3, 3, 3, 1, 1, 2], 8), [1, 2, 3]);
  assert.deepEqual(centres([0, 0, 0, 0, 10, 11], 2), [0, 10.5]);
});

test("many distinct raw values still cluster near the optimum", () => {
  const values = Float64Array.from(
    { length: 200_000 },
    (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1,
  );
  const centroids = kmeans1DCentroids({ values, k: 64 });
  let error = 0;
  for (const v of values) {
    let best = Infinity;
    for (const c of centroids) best = Math.min(best, (v - c) ** 2);
    error += best;
  }
  // Uniform data on (-1, 1): the optimum with 64 equal cells is (2/64)^2 / 12.
  assert.ok(error / values.length < (1.1 * (2 / 64) ** 2) / 12, `mse ${error / values.length}`);
});
