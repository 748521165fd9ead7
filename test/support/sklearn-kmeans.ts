/**
 * Reference emulation (not coremltools itself, which cannot run here) of how coremltools 9.1
 * palettizes a group with scikit-learn: `_get_kmeans_lookup_table_and_weight` hands every
 * vector group (cluster_dim > 1), and scalar groups kmeans1d does not take, to
 * `KMeans(n_clusters, init="k-means++", tol=1e-2, n_init=1, random_state=0)`.
 *
 * Reproduced: numpy's legacy RandomState (MT19937 seeded by init_genrand, masked `randint`,
 * 53-bit doubles); scikit-learn's greedy k-means++ as it was before 1.3 (first center by
 * `randint`, 2 + ⌊ln k⌋ local trials, candidates by a left search of the float64 cumulative D²,
 * distances as −2x·y + ‖x‖² + ‖y‖²); the tolerance (mean per-feature variance × tol); centering
 * on the mean; Lloyd steps labelling by ‖c‖² − 2x·c (first smallest), moving empty clusters to
 * the farthest points, stopping on unchanged labels or a total squared center shift ≤ tol, then
 * relabelling. fp32 weights are clustered in float32 (each step rounded; k-means++ distances in
 * float64, then rounded), fp16 ones in float64, as scikit-learn converts them. On the golden
 * vector cases (coremltools' own outputs) this gives the same tables and indices bit for bit
 * (test/passes/vector-palettize.test.ts); BLAS summation order is not reproduced, so elsewhere
 * a near tie may go the other way.
 */

/** numpy's legacy `RandomState(seed)`: MT19937 seeded by init_genrand. */
export class LegacyRandomState {
  private readonly state = new Uint32Array(624);
  private position = 624;

  constructor(seed: number) {
    let s = seed >>> 0;
    for (let i = 0; i < 624; i++) {
      this.state[i] = s;
      s = (Math.imul(1812433253, s ^ (s >>> 30)) + i + 1) >>> 0;
    }
  }

  private twist(): void {
    const mt = this.state;
    for (let i = 0; i < 624; i++) {
      const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
      mt[i] = mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.position = 0;
  }

  nextUint32(): number {
    if (this.position >= 624) this.twist();
    let y = this.state[this.position++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random_sample()` (and `uniform()`): a double in [0, 1) from two 32-bit draws. */
  randomSample(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `randint(n)`: 32-bit draws masked to the next power of two, until one is below n. */
  randint(n: number): number {
    if (n === 1) return 0; // numpy draws nothing then
    let mask = n - 1;
    for (let shift = 1; shift < 32; shift *= 2) mask |= mask >>> shift;
    for (;;) {
      const v = (this.nextUint32() & mask) >>> 0;
      if (v < n) return v;
    }
  }
}

/** numpy's `searchsorted` (side left): the first index whose value is ≥ x. */
function searchSorted(sorted: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface SklearnKMeansOptions {
  /** Cluster in float32 (scikit-learn keeps float32 input as it is). Default float64. */
  float32?: boolean;
  tol?: number;
  maxIter?: number;
  seed?: number;
}

export interface SklearnKMeansResult {
  /** k × dim centers, row-major. */
  centers: Float64Array;
  labels: Int32Array;
  inertia: number;
  iterations: number;
}

/** `KMeans(k, init="k-means++", n_init=1, random_state=seed, tol, max_iter).fit(points)`. */
export function sklearnKMeans(
  points: Float64Array,
  dim: number,
  k: number,
  options: SklearnKMeansOptions = {},
): SklearnKMeansResult {
  const { float32 = false, tol = 1e-4, maxIter = 300, seed = 0 } = options;
  const f = float32 ? Math.fround : (x: number) => x;
  const n = points.length / dim;
  if (n < k) throw new RangeError(`n_samples=${n} should be >= n_clusters=${k}`);
  const x = Float64Array.from(points, f);

  // The tolerance from the data before centering: mean over features of each one's variance.
  const mean = columnMeans(x, dim, f);
  let varianceSum = 0;
  for (let j = 0; j < dim; j++) {
    let sum = 0;
    for (let p = 0; p < n; p++) {
      const d = f(x[p * dim + j] - mean[j]);
      sum = f(sum + f(d * d));
    }
    varianceSum = f(varianceSum + f(sum / n));
  }
  const tolerance = tol === 0 ? 0 : f(f(varianceSum / dim) * tol);

  for (let p = 0; p < n; p++)
    for (let j = 0; j < dim; j++) x[p * dim + j] = f(x[p * dim + j] - mean[j]);
  const norms = rowNorms(x, dim, f);
  const random = new LegacyRandomState(seed);
  const centers = kmeansPlusPlus(x, dim, k, norms, random, float32);
  const result = lloyd(x, dim, centers, maxIter, tolerance, f);
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < dim; j++)
      result.centers[c * dim + j] = f(result.centers[c * dim + j] + mean[j]);
  }
  return result;
}

/** numpy's mean along axis 0 of a C-ordered array: rows added one after another, then divided. */
function columnMeans(x: Float64Array, dim: number, f: (x: number) => number): Float64Array {
  const n = x.length / dim;
  const sums = new Float64Array(dim);
  for (let p = 0; p < n; p++) for (let j = 0; j < dim; j++) sums[j] = f(sums[j] + x[p * dim + j]);
  return sums.map((s) => f(s / n));
}

function rowNorms(x: Float64Array, dim: number, f: (x: number) => number): Float64Array {
  const n = x.length / dim;
  const norms = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s = f(s + f(x[p * dim + j] * x[p * dim + j]));
    norms[p] = s;
  }
  return norms;
}

/**
 * Squared distances from point `c` to every point, as `_euclidean_distances` computes them:
 * −2 x·y + ‖x‖² + ‖y‖², clipped at 0. float32 data is computed in float64 and rounded.
 */
function distancesFrom(
  x: Float64Array,
  dim: number,
  c: number,
  norms: Float64Array,
  float32: boolean,
  out: Float64Array,
): void {
  const n = x.length / dim;
  let cNorm = 0;
  for (let j = 0; j < dim; j++) cNorm += x[c * dim + j] * x[c * dim + j];
  for (let p = 0; p < n; p++) {
    let dot = 0;
    let pNorm = 0;
    for (let j = 0; j < dim; j++) {
      dot += x[c * dim + j] * x[p * dim + j];
      if (float32) pNorm += x[p * dim + j] * x[p * dim + j];
    }
    let d = -2 * dot + cNorm + (float32 ? pNorm : norms[p]);
    if (float32) d = Math.fround(d);
    out[p] = d > 0 ? d : 0;
  }
}

/** Greedy k-means++ (`_kmeans_plusplus`) with unit sample weights. */
function kmeansPlusPlus(
  x: Float64Array,
  dim: number,
  k: number,
  norms: Float64Array,
  random: LegacyRandomState,
  float32: boolean,
): Float64Array {
  const f = float32 ? Math.fround : (v: number) => v;
  const n = x.length / dim;
  const trials = 2 + Math.floor(Math.log(k));
  const centers = new Float64Array(k * dim);
  // p = sample_weight / sample_weight.sum(), in the data's type.
  const first = random.randint(n);
  centers.set(x.subarray(first * dim, first * dim + dim), 0);
  let closest = new Float64Array(n);
  distancesFrom(x, dim, first, norms, float32, closest);
  let potential = dotWithOnes(closest, f);
  const cumulative = new Float64Array(n);
  let candidate = new Float64Array(n);
  let best = new Float64Array(n);
  for (let c = 1; c < k; c++) {
    const targets = Array.from({ length: trials }, () => random.randomSample() * potential);
    let sum = 0;
    for (let p = 0; p < n; p++) cumulative[p] = sum += closest[p];
    let bestPotential = Infinity;
    let bestId = 0;
    for (const target of targets) {
      const id = Math.min(searchSorted(cumulative, target), n - 1);
      distancesFrom(x, dim, id, norms, float32, candidate);
      for (let p = 0; p < n; p++) if (closest[p] < candidate[p]) candidate[p] = closest[p];
      const candidatePotential = dotWithOnes(candidate, f);
      // argmin: the first smallest.
      if (candidatePotential < bestPotential) {
        bestPotential = candidatePotential;
        bestId = id;
        [best, candidate] = [candidate, best];
      }
    }
    potential = bestPotential;
    [closest, best] = [best, closest];
    centers.set(x.subarray(bestId * dim, bestId * dim + dim), c * dim);
  }
  return centers;
}

function dotWithOnes(values: Float64Array, f: (x: number) => number): number {
  let sum = 0;
  for (const v of values) sum += v;
  return f(sum);
}

/** `_kmeans_single_lloyd` with unit sample weights. */
function lloyd(
  x: Float64Array,
  dim: number,
  initial: Float64Array,
  maxIter: number,
  tolerance: number,
  f: (x: number) => number,
): SklearnKMeansResult {
  const n = x.length / dim;
  const k = initial.length / dim;
  let centers: Float64Array = initial;
  let centersNew: Float64Array = new Float64Array(centers.length);
  const labels = new Int32Array(n).fill(-1);
  const labelsOld = new Int32Array(n).fill(-1);
  const weights = new Float64Array(k);
  let strict = false;
  let iteration = 0;
  for (; iteration < maxIter; iteration++) {
    assign(x, dim, centers, labels, f);
    centersNew.fill(0);
    weights.fill(0);
    for (let p = 0; p < n; p++) {
      const c = labels[p];
      weights[c] = f(weights[c] + 1);
      for (let j = 0; j < dim; j++) {
        centersNew[c * dim + j] = f(centersNew[c * dim + j] + x[p * dim + j]);
      }
    }
    relocateEmptyClusters(x, dim, centers, centersNew, weights, labels, f);
    let shift = 0;
    for (let c = 0; c < k; c++) {
      if (weights[c] > 0) {
        const alpha = f(1 / weights[c]);
        for (let j = 0; j < dim; j++) centersNew[c * dim + j] = f(centersNew[c * dim + j] * alpha);
      }
      let squared = 0;
      for (let j = 0; j < dim; j++) {
        const d = f(centersNew[c * dim + j] - centers[c * dim + j]);
        squared = f(squared + f(d * d));
      }
      const distance = f(Math.sqrt(squared));
      shift = f(shift + f(distance * distance));
    }
    [centers, centersNew] = [centersNew, centers];
    if (labels.every((label, p) => label === labelsOld[p])) {
      strict = true;
      break;
    }
    if (shift <= tolerance) break;
    labelsOld.set(labels);
  }
  if (!strict) assign(x, dim, centers, labels, f);
  let inertia = 0;
  for (let p = 0; p < n; p++) {
    let d = 0;
    for (let j = 0; j < dim; j++) {
      const e = f(x[p * dim + j] - centers[labels[p] * dim + j]);
      d = f(d + f(e * e));
    }
    inertia = f(inertia + d);
  }
  return { centers, labels, inertia, iterations: Math.min(iteration + 1, maxIter) };
}

/** Labels from ‖c‖² − 2x·c (the ‖x‖² term is left out), the first smallest winning. */
function assign(
  x: Float64Array,
  dim: number,
  centers: Float64Array,
  labels: Int32Array,
  f: (x: number) => number,
): void {
  const n = x.length / dim;
  const k = centers.length / dim;
  const centerNorms = rowNorms(centers, dim, f);
  for (let p = 0; p < n; p++) {
    let best = 0;
    let bestDistance = Infinity;
    for (let c = 0; c < k; c++) {
      let dot = 0;
      for (let j = 0; j < dim; j++) dot = f(dot + f(x[p * dim + j] * centers[c * dim + j]));
      const d = f(centerNorms[c] - 2 * dot);
      if (c === 0 || d < bestDistance) {
        bestDistance = d;
        best = c;
      }
    }
    labels[p] = best;
  }
}

/** `_relocate_empty_clusters_dense`: each empty cluster takes one of the farthest points. */
function relocateEmptyClusters(
  x: Float64Array,
  dim: number,
  centersOld: Float64Array,
  centersNew: Float64Array,
  weights: Float64Array,
  labels: Int32Array,
  f: (x: number) => number,
): void {
  const empty: number[] = [];
  weights.forEach((w, c) => w === 0 && empty.push(c));
  if (empty.length === 0) return;
  const n = x.length / dim;
  const distances = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    let d = 0;
    for (let j = 0; j < dim; j++) {
      const e = f(x[p * dim + j] - centersOld[labels[p] * dim + j]);
      d = f(d + f(e * e));
    }
    distances[p] = d;
  }
  const far = Array.from({ length: n }, (_, p) => p)
    .sort((a, b) => distances[b] - distances[a] || a - b)
    .slice(0, empty.length);
  empty.forEach((cluster, i) => {
    const p = far[i];
    const old = labels[p];
    for (let j = 0; j < dim; j++) {
      centersNew[old * dim + j] = f(centersNew[old * dim + j] - x[p * dim + j]);
      centersNew[cluster * dim + j] = x[p * dim + j];
    }
    weights[cluster] = 1;
    weights[old] = f(weights[old] - 1);
  });
}

/**
 * coremltools' k-means table of one group (`_get_kmeans_lookup_table_and_weight` without
 * kmeans1d): `points` are the group's clusterDim-long vectors back to back. The table is cast
 * to the weight's type (fp16 values rounded by the caller when it stores them).
 */
export function coremltoolsKMeansPalette(
  points: Float64Array,
  dim: number,
  nbits: number,
  valueType: "fp16" | "fp32",
): { lut: Float64Array; indices: Uint8Array; iterations: number } {
  const clusters = Math.min(points.length, 1 << nbits);
  const result = sklearnKMeans(points, dim, clusters, {
    float32: valueType === "fp32",
    tol: 1e-2,
  });
  const lut = new Float64Array((1 << nbits) * dim);
  lut.set(result.centers);
  return { lut, indices: Uint8Array.from(result.labels), iterations: result.iterations };
}
