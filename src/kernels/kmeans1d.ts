/**
 * One-dimensional k-means (squared error) over a list of values. Small problems are solved
 * exactly by dynamic programming over the sorted distinct values (clusters of sorted data are
 * contiguous runs); large ones fall back to weighted Lloyd iterations started from quantiles.
 */

export interface Clustering {
  /** Cluster centres, ascending; at most `k` of them (fewer when there are fewer distinct values). */
  centroids: Float64Array;
  /** For each input value, the index of its centre. */
  labels: Uint16Array;
}

/** Above this many (distinct values × clusters) cells the exact solver costs too much memory. */
const EXACT_CELL_LIMIT = 1 << 23;
const LLOYD_MAX_ITERATIONS = 300;

export function kmeans1d(values: ArrayLike<number>, k: number): Clustering {
  if (k < 1 || k > 65536) throw new RangeError(`cluster count ${k} out of range`);
  const { distinct, counts } = distinctValues(values);
  const n = distinct.length;
  let runStarts: Int32Array;
  if (n <= k) {
    runStarts = Int32Array.from({ length: n }, (_, i) => i);
  } else if (n * k <= EXACT_CELL_LIMIT) {
    runStarts = exactRuns(distinct, counts, k);
  } else {
    runStarts = lloydRuns(distinct, counts, k);
  }
  const clusters = runStarts.length;
  const centroids = new Float64Array(clusters);
  const distinctLabels = new Uint16Array(n);
  for (let c = 0; c < clusters; c++) {
    const start = runStarts[c];
    const end = c + 1 < clusters ? runStarts[c + 1] : n;
    let weight = 0;
    let sum = 0;
    for (let i = start; i < end; i++) {
      weight += counts[i];
      sum += counts[i] * distinct[i];
      distinctLabels[i] = c;
    }
    centroids[c] = sum / weight;
  }
  const labels = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    labels[i] = distinctLabels[indexOfSorted(distinct, values[i])];
  }
  return { centroids, labels };
}

function distinctValues(values: ArrayLike<number>): {
  distinct: Float64Array;
  counts: Float64Array;
} {
  const sorted = Float64Array.from(values).sort();
  let n = 0;
  const distinct = new Float64Array(sorted.length);
  const counts = new Float64Array(sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    if (n > 0 && distinct[n - 1] === sorted[i]) counts[n - 1]++;
    else {
      distinct[n] = sorted[i];
      counts[n++] = 1;
    }
  }
  return { distinct: distinct.subarray(0, n), counts: counts.subarray(0, n) };
}

function indexOfSorted(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Optimal split of the sorted distinct values into k runs. Row m of the table holds the best
 * cost of covering values 0..i with m+1 runs; the best split point is monotone in i, which the
 * divide-and-conquer recursion exploits (O(k·n·log n)).
 */
function exactRuns(distinct: Float64Array, counts: Float64Array, k: number): Int32Array {
  const n = distinct.length;
  // Prefix sums of weight, weighted value and weighted square, centred for accuracy.
  let mean = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    mean += counts[i] * distinct[i];
    total += counts[i];
  }
  mean /= total;
  const w = new Float64Array(n + 1);
  const s1 = new Float64Array(n + 1);
  const s2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const x = distinct[i] - mean;
    w[i + 1] = w[i] + counts[i];
    s1[i + 1] = s1[i] + counts[i] * x;
    s2[i + 1] = s2[i] + counts[i] * x * x;
  }
  /** Squared error of one run covering values [from, to]. */
  const cost = (from: number, to: number): number => {
    const weight = w[to + 1] - w[from];
    const sum = s1[to + 1] - s1[from];
    return Math.max(0, s2[to + 1] - s2[from] - (sum * sum) / weight);
  };
  let previous = new Float64Array(n);
  for (let i = 0; i < n; i++) previous[i] = cost(0, i);
  let current = new Float64Array(n);
  const splits: Int32Array[] = [];
  for (let m = 1; m < k; m++) {
    const split = new Int32Array(n);
    const solve = (lo: number, hi: number, optLo: number, optHi: number): void => {
      if (lo > hi) return;
      const i = (lo + hi) >> 1;
      let best = Infinity;
      let bestJ = optLo;
      // Run m starts at j ≥ m (every earlier run holds at least one value).
      for (let j = Math.max(optLo, m); j <= Math.min(i, optHi); j++) {
        const c = previous[j - 1] + cost(j, i);
        if (c < best) {
          best = c;
          bestJ = j;
        }
      }
      current[i] = best;
      split[i] = bestJ;
      solve(lo, i - 1, optLo, bestJ);
      solve(i + 1, hi, bestJ, optHi);
    };
    solve(m, n - 1, m, n - 1);
    splits.push(split);
    [previous, current] = [current, previous];
  }
  const starts = new Int32Array(k);
  let end = n - 1;
  for (let m = k - 1; m >= 1; m--) {
    starts[m] = splits[m - 1][end];
    end = starts[m] - 1;
  }
  return starts;
}

/** Weighted Lloyd iterations on sorted distinct values, started from equal-weight quantiles. */
function lloydRuns(distinct: Float64Array, counts: Float64Array, k: number): Int32Array {
  const n = distinct.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += counts[i];
  const centroids = new Float64Array(k);
  let acc = 0;
  let c = 0;
  for (let i = 0; i < n && c < k; i++) {
    acc += counts[i];
    while (c < k && acc >= ((c + 0.5) * total) / k) centroids[c++] = distinct[i];
  }
  const starts = new Int32Array(k);
  for (let iteration = 0; iteration < LLOYD_MAX_ITERATIONS; iteration++) {
    // Sorted centres partition sorted values into contiguous runs at the midpoints.
    let i = 0;
    for (let c2 = 0; c2 < k; c2++) {
      starts[c2] = i;
      const limit = c2 + 1 < k ? (centroids[c2] + centroids[c2 + 1]) / 2 : Infinity;
      while (i < n && distinct[i] < limit) i++;
    }
    let moved = false;
    for (let c2 = 0; c2 < k; c2++) {
      const end = c2 + 1 < k ? starts[c2 + 1] : n;
      let weight = 0;
      let sum = 0;
      for (let j = starts[c2]; j < end; j++) {
        weight += counts[j];
        sum += counts[j] * distinct[j];
      }
      if (weight === 0) continue;
      const centre = sum / weight;
      if (centre !== centroids[c2]) moved = true;
      centroids[c2] = centre;
    }
    if (!moved) break;
  }
  // Drop empty runs so every returned centre has members.
  const kept: number[] = [];
  for (let c2 = 0; c2 < k; c2++) {
    const end = c2 + 1 < k ? starts[c2 + 1] : n;
    if (end > starts[c2]) kept.push(starts[c2]);
  }
  return Int32Array.from(kept);
}
