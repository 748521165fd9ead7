/**
 * Optimal 1-D k-means on weighted points (distinct values with their multiplicities).
 *
 * Clusters of an optimal 1-D partition are contiguous runs of the sorted values, so a dynamic
 * program over prefix sums finds the global optimum. The best split point of row m is monotone
 * in the end index, which lets divide and conquer fill each row in O(n log n).
 *
 * Costs and centroids use the same prefix-sum and running-mean formulas as the kmeans1d
 * library coremltools relies on for large fp16 tensors, so that near-ties resolve the same way
 * and centroids come out bit-identical.
 */

export interface Clustering1D {
  /** Cluster means, ascending; as many as min(k, distinct values). */
  centroids: Float64Array;
  /** For each distinct value (ascending), its cluster. */
  assignment: Uint16Array;
}

class PrefixSums {
  readonly w: Float64Array;
  readonly s: Float64Array;
  readonly s2: Float64Array;

  constructor(values: Float64Array, weights: Float64Array) {
    const n = values.length;
    this.w = new Float64Array(n + 1);
    this.s = new Float64Array(n + 1);
    this.s2 = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) {
      const x = values[i];
      const w = weights[i];
      this.w[i + 1] = w + this.w[i];
      this.s[i + 1] = w * x + this.s[i];
      this.s2[i + 1] = w * x * x + this.s2[i];
    }
  }

  /** Sum of squared deviations from their mean of points i..j (inclusive). */
  cost(i: number, j: number): number {
    if (j < i) return 0;
    const w = this.w[j + 1] - this.w[i];
    const sum = this.s[j + 1] - this.s[i];
    const mu = sum / w;
    return this.s2[j + 1] - this.s2[i] + w * (mu * mu) - 2 * mu * sum;
  }
}

/**
 * Partitions sorted distinct `values` (with positive `weights`) into at most `k` clusters
 * minimizing the weighted sum of squared distances to the cluster means.
 */
export function optimalKMeans1D(
  values: Float64Array,
  weights: Float64Array,
  k: number,
): Clustering1D {
  const n = values.length;
  const clusters = Math.min(k, n);
  if (clusters === n) {
    const assignment = new Uint16Array(n);
    for (let i = 0; i < n; i++) assignment[i] = i;
    return { centroids: Float64Array.from(values), assignment };
  }
  const sums = new PrefixSums(values, weights);
  // split[m * n + i]: first point of the last cluster in the best (m+1)-partition of 0..i.
  const split = new Uint32Array(clusters * n);
  let previous = new Float64Array(n);
  let current = new Float64Array(n);
  for (let i = 0; i < n; i++) previous[i] = sums.cost(0, i);

  for (let m = 1; m < clusters; m++) {
    const row = m * n;
    const prev = previous;
    const cur = current;
    // Fill cur[lo..hi] knowing their best split points lie in [optLo, optHi].
    const solve = (lo: number, hi: number, optLo: number, optHi: number): void => {
      if (lo > hi) return;
      const mid = (lo + hi) >>> 1;
      let best = Infinity;
      let bestJ = Math.max(optLo, m);
      const last = Math.min(mid, optHi);
      for (let j = Math.max(optLo, m); j <= last; j++) {
        const c = prev[j - 1] + sums.cost(j, mid);
        if (c < best) {
          best = c;
          bestJ = j;
        }
      }
      cur[mid] = best;
      split[row + mid] = bestJ;
      solve(lo, mid - 1, optLo, bestJ);
      solve(mid + 1, hi, bestJ, optHi);
    };
    solve(m, n - 1, m, n - 1);
    previous = cur;
    current = prev;
  }

  const assignment = new Uint16Array(n);
  const centroids = new Float64Array(clusters);
  let end = n;
  for (let m = clusters - 1; m >= 0; m--) {
    const start = m === 0 ? 0 : split[m * n + end - 1];
    let centroid = 0;
    for (let i = start; i < end; i++) {
      assignment[i] = m;
      centroid += ((values[i] - centroid) * weights[i]) / (sums.w[i + 1] - sums.w[start]);
    }
    centroids[m] = centroid;
    end = start;
  }
  return { centroids, assignment };
}

/** Weighted squared error of a clustering (for tests and for choosing between candidates). */
export function clusteringError(
  values: Float64Array,
  weights: Float64Array,
  centroids: Float64Array,
  assignment: ArrayLike<number>,
): number {
  let error = 0;
  for (let i = 0; i < values.length; i++) {
    const d = values[i] - centroids[assignment[i]];
    error += weights[i] * d * d;
  }
  return error;
}

/** Distinct values of `data`, ascending, with how often each occurs. */
export function distinctWithCounts(data: ArrayLike<number>): {
  values: Float64Array;
  counts: Float64Array;
} {
  const sorted = Float64Array.from(data).sort();
  let distinct = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) distinct++;
  }
  const values = new Float64Array(distinct);
  const counts = new Float64Array(distinct);
  let d = -1;
  for (let i = 0; i < sorted.length; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) values[++d] = sorted[i];
    counts[d]++;
  }
  return { values, counts };
}

/** Distinct values of `data`, ascending, each with the sum of its points' `weights`. */
export function distinctWithWeights(
  data: Float64Array,
  weights: Float64Array,
): { values: Float64Array; counts: Float64Array } {
  const order = Uint32Array.from(data.keys()).sort((a, b) => data[a] - data[b]);
  const values: number[] = [];
  const counts: number[] = [];
  for (const i of order) {
    if (values.length > 0 && values[values.length - 1] === data[i]) {
      counts[counts.length - 1] += weights[i];
    } else {
      values.push(data[i]);
      counts.push(weights[i]);
    }
  }
  return { values: Float64Array.from(values), counts: Float64Array.from(counts) };
}

/** Distinct values of half-precision bit patterns, ascending, with counts (O(n), no sort). */
export function distinctHalfWithCounts(
  bits: Uint16Array,
  halfToFloat: (bits: number) => number,
): { values: Float64Array; counts: Float64Array } {
  const histogram = new Uint32Array(65536);
  for (let i = 0; i < bits.length; i++) histogram[bits[i]]++;
  // -0 and +0 are the same value; NaNs are not expected in weights.
  histogram[0] += histogram[0x8000];
  histogram[0x8000] = 0;
  const pairs: number[] = [];
  for (let b = 0; b < 65536; b++) if (histogram[b] > 0) pairs.push(b);
  pairs.sort((a, b) => halfToFloat(a) - halfToFloat(b));
  const values = new Float64Array(pairs.length);
  const counts = new Float64Array(pairs.length);
  pairs.forEach((b, i) => {
    values[i] = halfToFloat(b);
    counts[i] = histogram[b];
  });
  return { values, counts };
}

/**
 * Above this many distinct values the exact program gets slow (fp32 tensors); those are
 * clustered by the program on a fine histogram and refined by Lloyd iterations instead.
 */
export const EXACT_DISTINCT_LIMIT = 1 << 17;

/**
 * Near-optimal clustering of many distinct sorted values: solve exactly on equal-width bins
 * (weighted by their mass, placed at their mean), then run Lloyd steps on the exact data.
 * With sorted data and prefix sums each Lloyd step costs O(k log n).
 */
export function histogramKMeans1D(
  values: Float64Array,
  weights: Float64Array,
  k: number,
  bins = EXACT_DISTINCT_LIMIT >> 1,
): Clustering1D {
  const n = values.length;
  const lo = values[0];
  const span = values[n - 1] - lo;
  const binMass = new Float64Array(bins);
  const binSum = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const b = Math.min(bins - 1, Math.floor(((values[i] - lo) / span) * bins));
    binMass[b] += weights[i];
    binSum[b] += weights[i] * values[i];
  }
  const used: number[] = [];
  for (let b = 0; b < bins; b++) if (binMass[b] > 0) used.push(b);
  const binValues = Float64Array.from(used, (b) => binSum[b] / binMass[b]);
  const binWeights = Float64Array.from(used, (b) => binMass[b]);
  const seed = optimalKMeans1D(binValues, binWeights, k);

  const sums = new PrefixSums(values, weights);
  const centroids = Float64Array.from(seed.centroids);
  const clusters = centroids.length;
  // starts[c]: first point of cluster c (clusters are contiguous runs of sorted values).
  const starts = new Uint32Array(clusters + 1);
  starts[clusters] = n;
  for (let iteration = 0; iteration < 100; iteration++) {
    let moved = false;
    for (let c = 1; c < clusters; c++) {
      const boundary = (centroids[c - 1] + centroids[c]) / 2;
      const start = firstAbove(values, boundary);
      if (start !== starts[c]) moved = true;
      starts[c] = start;
    }
    if (!moved && iteration > 0) break;
    for (let c = 0; c < clusters; c++) {
      const a = starts[c];
      const b = starts[c + 1];
      if (b > a) centroids[c] = (sums.s[b] - sums.s[a]) / (sums.w[b] - sums.w[a]);
    }
  }
  const assignment = new Uint16Array(n);
  for (let c = 0; c < clusters; c++) assignment.fill(c, starts[c], starts[c + 1]);
  return { centroids, assignment };
}

/** Index of the first element of sorted `values` greater than `x`. */
function firstAbove(values: Float64Array, x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Exact when affordable, histogram-seeded Lloyd otherwise. */
export function kmeans1D(values: Float64Array, weights: Float64Array, k: number): Clustering1D {
  return values.length <= EXACT_DISTINCT_LIMIT
    ? optimalKMeans1D(values, weights, k)
    : histogramKMeans1D(values, weights, k);
}
