/**
 * Optimal 1-D k-means on weighted points (distinct values with their multiplicities).
 *
 * Clusters of an optimal 1-D partition are contiguous runs of the sorted values, so a dynamic
 * program over prefix sums finds the global optimum. The best split point of row m is monotone
 * in the end index (and in m), which lets divide and conquer fill each row in O(n log n).
 *
 * Costs and centroids use the same prefix-sum and running-mean formulas as the kmeans1d
 * library coremltools relies on for large fp16 tensors, so that near-ties resolve the same way
 * and centroids come out bit-identical.
 */
import { halfToFloat } from "../fp16.js";
import { SimdLayerKernel } from "./kmeans-layer-simd.js";

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
    fillPrefixSums(values, weights, this.w, this.s, this.s2);
  }
}

function fillPrefixSums(
  values: Float64Array,
  weights: Float64Array,
  w: Float64Array,
  s: Float64Array,
  s2: Float64Array,
): void {
  w[0] = s[0] = s2[0] = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    const weight = weights[i];
    w[i + 1] = weight + w[i];
    s[i + 1] = weight * x + s[i];
    s2[i + 1] = weight * x * x + s2[i];
  }
}

/**
 * Sum of squared deviations from their mean of points i..j (inclusive, i ≤ j), from prefix
 * sums. The order of operations is the kmeans1d library's (see the module comment).
 */
function runCost(w: Float64Array, s: Float64Array, s2: Float64Array, i: number, j: number): number {
  const weight = w[j + 1] - w[i];
  const sum = s[j + 1] - s[i];
  const mu = sum / weight;
  return s2[j + 1] - s2[i] + weight * (mu * mu) - 2 * mu * sum;
}

/**
 * Where each layer of the program is solved: layer m for end points starts[m]..ends[m]. The
 * last layer is only read at the end of the data, and the first is always solved whole.
 */
export interface LayerWindows {
  starts: Int32Array;
  ends: Int32Array;
}

/**
 * The layers of the program: layer m holds, for every end point i, the best cost of m + 1 runs
 * covering 0..i and where the last run starts. Buffers are kept from one call to the next: a
 * worker clusters thousands of groups, and fresh zeroed tables for each would cost more than
 * the program itself.
 */
class LayerSolver {
  w = new Float64Array(0);
  s = new Float64Array(0);
  s2 = new Float64Array(0);
  previous = new Float64Array(0);
  current = new Float64Array(0);
  /** split[m * n + i]: first point of the last run in the best (m+1)-partition of 0..i. */
  split = new Uint32Array(0);
  row = 0;
  /** Points per layer of `split`. */
  stride = 0;
  /** End points the layer below (`previous`) holds costs for. */
  solvedFrom = 0;
  solvedTo = 0;
  /**
   * A cost at least this far under the layer below's cost at `solvedTo` cannot be beaten by a
   * start past it: that layer's exact costs never decrease with the end point, and this covers
   * the rounding of the computed ones many times over.
   */
  margin = 0;
  /** Whether the layer being filled needed a cost of the layer below outside where it is solved. */
  private outside = false;

  /** Layers in WebAssembly when available (the same fill, faster); JavaScript otherwise. */
  private simd = SimdLayerKernel.load();

  reserve(n: number, clusters: number): void {
    if (this.w.length >= n + 1 && this.split.length >= n * clusters) return;
    const size = Math.max(n + 1, this.w.length * 2);
    const splitSize = Math.max(n * clusters, this.split.length * 2);
    const arrays = this.simd?.allocate(size, splitSize);
    if (arrays) {
      Object.assign(this, arrays);
      return;
    }
    // Too large for the module's memory: this solver continues in JavaScript.
    this.simd = undefined;
    this.w = new Float64Array(size);
    this.s = new Float64Array(size);
    this.s2 = new Float64Array(size);
    this.previous = new Float64Array(size);
    this.current = new Float64Array(size);
    this.split = new Uint32Array(splitSize);
  }

  /**
   * Solves layers 1..clusters-1 over the prefix sums already in w, s, s2, each within its
   * window (default: every end point it can have). False when a layer needed costs of the
   * layer below outside where that one was solved: the windows were too narrow and the result
   * is not to be used. With `costs`, each layer's costs are kept there (costs[m * n + i]).
   */
  solveLayers(n: number, clusters: number, windows?: LayerWindows, costs?: Float64Array): boolean {
    const { w, s, s2 } = this;
    for (let i = 0; i < n; i++) this.previous[i] = runCost(w, s, s2, 0, i);
    costs?.set(this.previous.subarray(0, n));
    this.stride = n;
    this.solvedFrom = 0;
    this.solvedTo = n - 1;
    this.margin = 1e-12 * s2[n];
    this.outside = false;
    for (let m = 1; m < clusters; m++) {
      const top = m === clusters - 1;
      const from = top ? n - 1 : windows ? windows.starts[m] : m;
      const to = top || !windows ? n - 1 : windows.ends[m];
      this.row = m * n;
      // End points up to where the layer below is solved take bounds from its splits; those
      // past it start no earlier than the last of them.
      const within = Math.min(to, this.solvedTo);
      this.fillLayer(m, from, within, m, within);
      const optLo = from <= within ? this.split[this.row + within] : m;
      this.fillLayer(m, within + 1, to, optLo, to);
      costs?.set(this.current.subarray(from, to + 1), this.row + from);
      // Windows too narrow: stop now rather than solve the layers above for nothing.
      if (this.outside) return false;
      this.solvedFrom = from;
      this.solvedTo = to;
      const previous = this.previous;
      this.previous = this.current;
      this.current = previous;
    }
    return !this.outside;
  }

  private fillLayer(m: number, lo: number, hi: number, optLo: number, optHi: number): void {
    if (lo > hi) return;
    if (this.simd) this.outside = this.simd.fill(this, m, lo, hi, optLo, optHi) || this.outside;
    else this.fill(m, lo, hi, optLo, optHi);
  }

  /**
   * Fills split and `current` for end points lo..hi of layer m, knowing their runs start in
   * optLo..optHi. Starts are monotone in the end point, so solving the middle end point
   * halves the candidates on each side (O(n log n) per layer, tight loops, no calls).
   */
  private fill(m: number, lo: number, hi: number, optLo: number, optHi: number): void {
    const { w, s, s2, previous, current, split } = this;
    const base = this.row;
    const stride = this.stride;
    const { solvedFrom, solvedTo } = this;
    const bound = previous[solvedTo] - this.margin;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      // With one run fewer, the last run of 0..mid starts no later (rows are monotone in m).
      const lower = m > 1 && mid <= solvedTo ? split[base - stride + mid] : m;
      const first = optLo > lower ? optLo : lower;
      if (first <= solvedFrom) this.outside = true;
      let last = mid < optHi ? mid : optHi;
      const capped = last > solvedTo + 1;
      if (capped) last = solvedTo + 1;
      const wEnd = w[mid + 1];
      const sEnd = s[mid + 1];
      const s2End = s2[mid + 1];
      let best = Infinity;
      let bestJ = first;
      for (let j = first; j <= last; j++) {
        const weight = wEnd - w[j];
        const sum = sEnd - s[j];
        const mu = sum / weight;
        const c = previous[j - 1] + (s2End - s2[j] + weight * (mu * mu) - 2 * mu * sum);
        if (c < best) {
          best = c;
          bestJ = j;
        }
      }
      // Starts past the cap are not scanned; that is only right when none of them can win.
      if (capped && !(best < bound)) this.outside = true;
      current[mid] = best;
      split[base + mid] = bestJ;
      // Recurse into the lower side (never the larger), loop on the upper.
      this.fill(m, lo, mid - 1, optLo, bestJ);
      lo = mid + 1;
      optLo = bestJ;
    }
  }
}

const solver = new LayerSolver();

/** Points per block of the coarse problem. */
const COARSE_BLOCK = 16;
/**
 * How many blocks beyond the coarse guess each layer's window reaches, down and up (undefined:
 * to the end of the data): tried in turn until one proves wide enough.
 */
const COARSE_SLACKS = [
  [6, 2],
  [32, 2],
  [32, undefined],
] as const;
/** Costs of every layer of the coarse problem, reused between calls. */
let coarseCosts = new Float64Array(0);

/**
 * Where each layer of the program needs solving. Only the end of the data matters. Layer m is
 * read only where layer m + 1 looks for the start of its last run: from about where the
 * coarse solution puts that start, and up to where layer m's cost exceeds what layer m + 1
 * reaches at the top of its own window (no start beyond can be better). Both are guessed from
 * the same problem on blocks of consecutive points, with more slack in each guess; a guess
 * that proves too narrow is detected (solveLayers returns false) and the next one tried, then
 * every end point.
 */
function coarseWindows(
  values: Float64Array,
  weights: Float64Array,
  clusters: number,
): LayerWindows[] {
  const n = values.length;
  const blocks = Math.ceil(n / COARSE_BLOCK);
  if (clusters < 3 || blocks < 4 * clusters) return [];
  const blockValues = new Float64Array(blocks);
  const blockWeights = new Float64Array(blocks);
  // within[b]: squared deviations inside blocks 0..b, which the coarse costs leave out.
  const within = new Float64Array(blocks);
  for (let b = 0; b < blocks; b++) {
    let weight = 0;
    let sum = 0;
    let squares = 0;
    for (let i = b * COARSE_BLOCK; i < Math.min(n, (b + 1) * COARSE_BLOCK); i++) {
      weight += weights[i];
      sum += weights[i] * values[i];
      squares += weights[i] * values[i] * values[i];
    }
    blockValues[b] = sum / weight;
    blockWeights[b] = weight;
    within[b] = Math.max(0, squares - (sum * sum) / weight) + (b > 0 ? within[b - 1] : 0);
  }
  if (coarseCosts.length < blocks * clusters) coarseCosts = new Float64Array(blocks * clusters);
  solver.reserve(blocks, clusters);
  fillPrefixSums(blockValues, blockWeights, solver.w, solver.s, solver.s2);
  solver.solveLayers(blocks, clusters, undefined, coarseCosts);
  const split = solver.split;
  // Layer m's cost at the end of block b, estimated low (the coarse cost) and high (plus the
  // squared deviations inside blocks, what a partition along block edges costs).
  const low = (m: number, b: number) => coarseCosts[m * blocks + b];
  const high = (m: number, b: number) => low(m, b) + within[b];
  const blockOf = (i: number) => Math.floor(i / COARSE_BLOCK);
  return COARSE_SLACKS.map(([down, up]) => {
    const starts = new Int32Array(clusters);
    const ends = new Int32Array(clusters);
    starts[clusters - 1] = ends[clusters - 1] = n - 1;
    for (let m = clusters - 2; m >= 1; m--) {
      // Layer m + 1's lowest end point looks back to layer m's last-run start there, less one.
      const block = Math.max(m, blockOf(starts[m + 1]));
      const start = (split[m * blocks + block] - down) * COARSE_BLOCK - 1;
      starts[m] = Math.max(m, Math.min(starts[m + 1], start));
      const reached = high(m + 1, blockOf(ends[m + 1]));
      let b = Math.max(m, blockOf(starts[m]));
      while (b < blocks - 1 && !(low(m, b) > reached)) b++;
      const end = up === undefined ? n - 1 : Math.min(n - 1, (b + up + 1) * COARSE_BLOCK - 1);
      // Layer m + 1 takes its lowest end points' bounds from this layer's splits.
      ends[m] = Math.max(end, starts[m + 1]);
    }
    return { starts, ends };
  });
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
  const guesses = coarseWindows(values, weights, clusters);
  for (const windows of guesses) {
    const clustering = optimalKMeans1DWithin(values, weights, clusters, windows);
    if (clustering) return clustering;
  }
  return optimalKMeans1DWithin(values, weights, clusters)!;
}

/**
 * The exact program with each layer solved only within `windows` (every end point when
 * omitted); undefined when the windows proved too narrow for the result to be exact.
 * Requires clusters ≤ values.length.
 */
export function optimalKMeans1DWithin(
  values: Float64Array,
  weights: Float64Array,
  clusters: number,
  windows?: LayerWindows,
): Clustering1D | undefined {
  const n = values.length;
  solver.reserve(n, clusters);
  const { w, s, s2 } = solver;
  fillPrefixSums(values, weights, w, s, s2);
  if (!solver.solveLayers(n, clusters, windows)) return undefined;
  const split = solver.split;

  const assignment = new Uint16Array(n);
  const centroids = new Float64Array(clusters);
  let end = n;
  for (let m = clusters - 1; m >= 0; m--) {
    const start = m === 0 ? 0 : split[m * n + end - 1];
    let centroid = 0;
    for (let i = start; i < end; i++) {
      assignment[i] = m;
      centroid += ((values[i] - centroid) * weights[i]) / (w[i + 1] - w[start]);
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

/** Distinct half values of a group, ascending, with counts and one bit pattern each. */
export interface HalfDistinct {
  values: Float64Array;
  counts: Float64Array;
  /** The pattern of each value (one of ±0 standing for both). */
  bits: Uint16Array;
}

/** Per-thread histogram over the 65,536 half patterns, left all zero between calls. */
const halfHistogram = new Uint32Array(65536);
/** Per-thread bitmap of the patterns present (bit b of word b >> 5), left all zero too. */
const halfPresent = new Uint32Array(65536 >> 5);

/**
 * Distinct values of half-precision bit patterns, ascending, with counts: one histogram pass
 * and a walk over the present patterns in value order (a bitmap, so the 65,536 patterns are
 * not visited one by one; groups hold a few thousand), no sort. NaN patterns are left out.
 */
export function distinctHalfWithCounts(bits: Uint16Array): HalfDistinct {
  const histogram = halfHistogram;
  const present = halfPresent;
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    histogram[b]++;
    present[b >>> 5] |= 1 << (b & 31);
  }
  // -0 and +0 are one value, listed as -0 when there is one (the first in a numeric sort).
  if (histogram[0x8000] > 0 && histogram[0] > 0) {
    histogram[0x8000] += histogram[0];
    histogram[0] = 0;
    present[0] &= ~1;
  }
  let distinct = 0;
  for (let word = 0; word < present.length; word++) {
    let x = present[word];
    while (x !== 0) {
      x &= x - 1;
      distinct++;
    }
  }
  const out: HalfDistinct = {
    values: new Float64Array(distinct),
    counts: new Float64Array(distinct),
    bits: new Uint16Array(distinct),
  };
  let d = 0;
  const take = (b: number) => {
    const count = histogram[b];
    histogram[b] = 0;
    if ((b & 0x7fff) > 0x7c00) return; // NaN
    out.values[d] = halfToFloat(b);
    out.counts[d] = count;
    out.bits[d++] = b;
  };
  // Negative values from -infinity up (larger magnitude patterns first, highest bit first)...
  for (let word = present.length - 1; word >= 0x8000 >> 5; word--) {
    let x = present[word];
    present[word] = 0;
    while (x !== 0) {
      const bit = 31 - Math.clz32(x);
      x ^= 1 << bit;
      take((word << 5) | bit);
    }
  }
  // ...then +0 to +infinity (lowest bit first).
  for (let word = 0; word < 0x8000 >> 5; word++) {
    let x = present[word];
    present[word] = 0;
    while (x !== 0) {
      const low = x & -x;
      x ^= low;
      take((word << 5) | (31 - Math.clz32(low)));
    }
  }
  out.values = out.values.subarray(0, d);
  out.counts = out.counts.subarray(0, d);
  out.bits = out.bits.subarray(0, d);
  return out;
}

/**
 * Above this many distinct values the exact program gets slow (fp32 tensors); those are
 * clustered by the program on a fine histogram and refined by Lloyd iterations instead.
 */
const EXACT_DISTINCT_LIMIT = 1 << 17;

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

/** Centres clustering raw `data` (repeated values counted with their multiplicity), ascending. */
export function kmeans1DCentroids({
  values,
  k,
}: {
  values: Float64Array;
  k: number;
}): Float64Array {
  const distinct = distinctWithCounts(values);
  return kmeans1D(distinct.values, distinct.counts, k).centroids;
}
