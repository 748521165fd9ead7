/**
 * Test oracle: the plain vector k-means src/kernels/palettize/vector-kmeans.ts replaced (and
 * must do no worse than): three greedy k-means++ seedings, each taken to convergence by Lloyd
 * iterations over every point against every centroid, the one with the least squared error
 * kept. Deterministic from a fixed seed.
 */
import type { VectorClustering as Clustering } from "../../src/kernels/palettize/vector-kmeans.js";

/** What the reference computes (not Σ v², which the fast k-means reports too). */
type VectorClustering = Omit<Clustering, "signal">;

/** Small, fast, deterministic PRNG (mulberry32) returning floats in [0, 1). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function squaredDistance(
  points: Float64Array,
  p: number,
  centroids: Float64Array,
  c: number,
  dim: number,
): number {
  let d = 0;
  for (let j = 0; j < dim; j++) {
    const diff = points[p * dim + j] - centroids[c * dim + j];
    d += diff * diff;
  }
  return d;
}

/** k-means++ with 2 + ln k candidates per step, keeping the one that lowers the potential most. */
function seedCentroids(
  points: Float64Array,
  dim: number,
  k: number,
  next: () => number,
): Float64Array {
  const n = points.length / dim;
  const centroids = new Float64Array(k * dim);
  const nearest = new Float64Array(n);
  const first = Math.floor(next() * n);
  centroids.set(points.subarray(first * dim, first * dim + dim), 0);
  let potential = 0;
  for (let p = 0; p < n; p++)
    potential += nearest[p] = squaredDistance(points, p, centroids, 0, dim);
  const trials = 2 + Math.floor(Math.log(k));
  const candidateDistances = new Float64Array(n);
  const bestDistances = new Float64Array(n);
  for (let c = 1; c < k; c++) {
    let bestPotential = Infinity;
    let bestPoint = 0;
    for (let t = 0; t < trials; t++) {
      let target = next() * potential;
      let candidate = n - 1;
      for (let p = 0; p < n; p++) {
        target -= nearest[p];
        if (target < 0) {
          candidate = p;
          break;
        }
      }
      centroids.set(points.subarray(candidate * dim, candidate * dim + dim), c * dim);
      let sum = 0;
      for (let p = 0; p < n; p++) {
        const d = Math.min(nearest[p], squaredDistance(points, p, centroids, c, dim));
        candidateDistances[p] = d;
        sum += d;
      }
      if (sum < bestPotential) {
        bestPotential = sum;
        bestPoint = candidate;
        bestDistances.set(candidateDistances);
      }
    }
    centroids.set(points.subarray(bestPoint * dim, bestPoint * dim + dim), c * dim);
    nearest.set(bestDistances);
    potential = bestPotential;
  }
  return centroids;
}

function lloyd(
  points: Float64Array,
  dim: number,
  centroids: Float64Array,
  k: number,
): VectorClustering {
  const n = points.length / dim;
  const assignment = new Uint8Array(n);
  const sums = new Float64Array(k * dim);
  const counts = new Float64Array(k);
  let error = 0;
  for (let iteration = 0; iteration < 300; iteration++) {
    let changed = iteration === 0;
    error = 0;
    for (let p = 0; p < n; p++) {
      let best = 0;
      let bestDistance = Infinity;
      for (let c = 0; c < k; c++) {
        const d = squaredDistance(points, p, centroids, c, dim);
        if (d < bestDistance) {
          bestDistance = d;
          best = c;
        }
      }
      if (assignment[p] !== best) changed = true;
      assignment[p] = best;
      error += bestDistance;
    }
    if (!changed) break;
    sums.fill(0);
    counts.fill(0);
    for (let p = 0; p < n; p++) {
      const c = assignment[p];
      counts[c]++;
      for (let j = 0; j < dim; j++) sums[c * dim + j] += points[p * dim + j];
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue; // keep an empty cluster's centroid where it was
      for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j] / counts[c];
    }
  }
  return { centroids, assignment, error };
}

/**
 * Clusters `points` (n × dim, row-major) into at most `k` ≤ 256 centroids. When there are no
 * more distinct points than `k`, the distinct points themselves are the centroids.
 */
export function referenceVectorKMeans(
  points: Float64Array,
  dim: number,
  k: number,
  seed = 0,
): VectorClustering {
  const n = points.length / dim;
  const distinct = distinctRows(points, dim, k);
  if (distinct) {
    const assignment = new Uint8Array(n);
    const index = new Map<string, number>();
    distinct.forEach((key, i) => index.set(key, i));
    for (let p = 0; p < n; p++) assignment[p] = index.get(rowKey(points, p, dim))!;
    const centroids = new Float64Array(k * dim);
    distinct.forEach((key, i) => centroids.set(key.split(",").map(Number), i * dim));
    return { centroids, assignment, error: 0 };
  }
  const next = random(seed);
  let best: VectorClustering | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const result = lloyd(points, dim, seedCentroids(points, dim, k, next), k);
    if (!best || result.error < best.error) best = result;
  }
  return best!;
}

function rowKey(points: Float64Array, p: number, dim: number): string {
  return Array.from(points.subarray(p * dim, p * dim + dim)).join(",");
}

/** The distinct rows (sorted keys), or undefined as soon as there are more than `limit`. */
function distinctRows(points: Float64Array, dim: number, limit: number): string[] | undefined {
  const seen = new Set<string>();
  for (let p = 0; p < points.length / dim; p++) {
    seen.add(rowKey(points, p, dim));
    if (seen.size > limit) return undefined;
  }
  return [...seen].sort();
}
