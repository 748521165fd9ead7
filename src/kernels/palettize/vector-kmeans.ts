/**
 * k-means on short vectors (vector palettization), deterministic from a fixed seed.
 *
 * The points are sorted into a tree: the cells of a grid fitted to their density, in Morton
 * order, are its leaves, and each level above merges 2^dim cells. Lloyd's assignment step walks
 * the tree with the centroids that may be nearest to some point of a node, dropping those the
 * node's bounding box lies wholly on the far side of (Kanungo et al.'s filtering algorithm):
 * a node left with one centroid joins it as a whole (count, sum and sum of squares), and only
 * leaves straddling a boundary are looked at point by point.
 *
 * Greedy k-means++ seedings (as scikit-learn makes them) converge on the nodes of a coarse
 * level as weighted points; the best few converge on the leaves as weighted points, and the
 * best of those is refined on the exact points. Lloyd's steps creep on these smooth unimodal
 * point clouds, so they are over-relaxed while that lowers the error.
 *
 * For 2-vectors the tree's construction, the seeding and the assignment steps run in
 * WebAssembly (kmeans-tree-wasm.ts) with the arithmetic of the loops here, in the same order:
 * these stay the reference (`kernels` "javascript") and the fallback where it is unavailable.
 */
import { seededRandom } from "../random.js";
import {
  KMeansTreeKernel,
  type ResidentTree,
  type TreeLevel as Level,
} from "./kmeans-tree-wasm.js";
import { NearestCentroidKernel } from "./nearest-centroid-simd.js";

export interface VectorClustering {
  /** k × dim centroids, row-major (rows past the number of distinct vectors are zero). */
  centroids: Float64Array;
  /** For each point, its centroid. */
  assignment: Uint8Array;
  /** Σ ‖x − its centroid‖² over the points. */
  error: number;
  /** Σ ‖x‖² over the points. */
  signal: number;
}

/**
 * Seedings converged on the coarse level (the deepest with at most COARSE_NODES nodes), how
 * many of the best are ranked on the middle level (at most MIDDLE_NODES nodes) before the best
 * of those converges on the leaves. Coarse restarts are cheap (the SIMD kernel) and 16 of them,
 * the best five ranked, lower mobilenet_v2's error by 0.1–0.2 % over 8 and 3. Groups seeded on
 * their points restart POINT_RESTARTS times.
 */
const RESTARTS = 16;
const POINT_RESTARTS = 8;
const REFINED = 5;
const COARSE_NODES = 256;
const MIDDLE_NODES = 1 << 12;
/** Leaves of large groups hold about this many points. */
const POINTS_PER_LEAF = 8;
/** Grid cells at least (when there are as many points), and at most (Morton codes of 16 bits). */
const MIN_CELLS = 1 << 14;
const CODE_BITS = 16;
/**
 * Lloyd passes at most on weighted points: to convergence on the leaves, fewer on the coarse
 * and middle levels, whose optima only rank the starts.
 */
const MAX_PASSES = 300;
const RANKING_PASSES = 40;
/**
 * Passes on the exact points from the leaves' optimum, which differs from theirs only near the
 * boundaries (a few passes take most of the gain); groups of at most `convergedPoints` points
 * (see Schedule) converge (their passes cost little).
 */
const EXACT_PASSES = 10;
/**
 * Point–centroid distances at most (points × centroids × passes) for the restarts on the points
 * themselves, and for the passes converging on the exact points: large tables (e.g. 8 bits of
 * 4-vectors) on groups of a few thousand points would otherwise spend minutes on restarts and
 * creeping passes that change the error in its fourth digit.
 */
const RANKING_WORK = 1 << 25;
const EXACT_WORK = 1 << 26;
/** Points × centroids at most for seeding on the points themselves, and see onPoints. */
const POINT_SEEDING_WORK = 1 << 17;
const SMALL_SEEDING_WORK = 1 << 15;
const LEAVES_PER_CENTROID = 16;
/** Points sampled per coordinate to shape the grid, and the resolution of its bin edges. */
const GRID_SAMPLE = 1 << 14;
const SUB_BINS = 1024;
/** Relative slack in the pruning test, far above the rounding of its terms. */
const SLACK = 1e-12;

/**
 * For each coordinate, the Morton code bits of each of SUB_BINS even sub-bins of its range
 * (over a sample): `bins` bins per coordinate, narrow where the points are dense and wide in
 * the tails, each a run of sub-bins holding an equal share of Σ count^(1/3) (the spacing that
 * suits quantizing a density, so cells stay small next to the clusters wherever they are).
 * Values past the sample's range are clamped into the edge bins.
 */
interface Grid {
  low: Float64Array;
  /** Sub-bins per unit of each coordinate. */
  scale: Float64Array;
  /** codes[j][sub]: the Morton code part of coordinate j. */
  codes: Uint32Array[];
}

function densityGrid(points: Float64Array, dim: number, bits: number): Grid {
  const n = points.length / dim;
  const bins = 1 << bits;
  const step = Math.max(1, Math.floor(n / GRID_SAMPLE));
  const low = new Float64Array(dim).fill(Infinity);
  const high = new Float64Array(dim).fill(-Infinity);
  const scale = new Float64Array(dim);
  const codes: Uint32Array[] = [];
  // Every coordinate in one pass over the sample (whose points are each a cache miss when it
  // is sparse).
  for (let p = 0; p < n; p += step) {
    for (let j = 0; j < dim; j++) {
      const v = points[p * dim + j];
      if (v < low[j]) low[j] = v;
      if (v > high[j]) high[j] = v;
    }
  }
  const histograms = Array.from({ length: dim }, () => new Float64Array(SUB_BINS));
  for (let j = 0; j < dim; j++) {
    // Just over SUB_BINS / range, so the sample's largest value falls in the last sub-bin.
    scale[j] = high[j] > low[j] ? SUB_BINS / ((high[j] - low[j]) * (1 + 1e-9)) : 0;
  }
  for (let p = 0; p < n; p += step) {
    for (let j = 0; j < dim; j++) {
      histograms[j][Math.floor((points[p * dim + j] - low[j]) * scale[j])]++;
    }
  }
  for (let j = 0; j < dim; j++) {
    const shares = histograms[j].map(Math.cbrt);
    let total = 0;
    for (const share of shares) total += share;
    const code = new Uint32Array(SUB_BINS);
    let before = 0;
    for (let s = 0; s < SUB_BINS; s++) {
      const share = shares[s];
      // A sub-bin goes to the bin holding its middle; bit t of the bin goes to bit t·dim + j.
      const bin = Math.min(bins - 1, Math.floor(((before + share / 2) / total) * bins));
      before += share;
      let spread = 0;
      for (let t = 0; t < bits; t++) spread |= ((bin >> t) & 1) << (t * dim + j);
      code[s] = spread;
    }
    codes.push(code);
  }
  return { low, scale, codes };
}

interface PointTree {
  dim: number;
  /** Points. */
  count: number;
  /** The points less their mean (errors come from sums of squares, accurate then), by leaf. */
  sorted: Float64Array;
  /** Index in the input of each sorted point. */
  order: Uint32Array;
  /** levels[0] holds the leaves, the last level the root. */
  levels: Level[];
  /** Whether the WebAssembly kernels may run (else the JavaScript loops, their reference). */
  wasm: boolean;
  /**
   * Set when the tree was built in the WebAssembly kernel's memory (2-vectors), where every
   * step then runs: its levels here hold only their counts (the root its sums too), and
   * `sorted` and `order` are empty.
   */
  resident?: ResidentTree;
}

function buildTree(
  points: Float64Array,
  dim: number,
  center: Float64Array,
  wasm: boolean,
): PointTree {
  const n = points.length / dim;
  // 2^bits cells per coordinate: about one per point in small groups (whose clusters hold few
  // points each), about POINTS_PER_LEAF points per cell in large ones.
  const cells = Math.max(n / POINTS_PER_LEAF, Math.min(n, MIN_CELLS));
  const bits = Math.max(
    0,
    Math.min(Math.floor(CODE_BITS / dim), Math.floor(Math.log2(cells) / dim)),
  );
  const grid = densityGrid(points, dim, bits);
  if (wasm && dim === 2) {
    const resident = residentTree(points, center, bits, grid);
    if (resident) return resident;
  }
  const slots = 1 << (bits * dim);
  // Counting sort by cell: offsets[s] is cell s's first point.
  const offsets = new Uint32Array(slots + 1);
  const codes = cellCodes(points, dim, grid, offsets);
  let leaves = 0;
  for (let s = 0; s < slots; s++) {
    if (offsets[s + 1] > 0) leaves++;
    offsets[s + 1] += offsets[s];
  }
  const { order, sorted } = sortByCell(points, dim, center, codes, offsets);
  // The leaves: non-empty cells.
  const leafCodes = new Uint32Array(leaves);
  const leafPoints = new Uint32Array(leaves + 1);
  for (let s = 0, i = 0; s < slots; s++) {
    if (offsets[s + 1] === offsets[s]) continue;
    leafCodes[i] = s;
    leafPoints[i++] = offsets[s];
  }
  leafPoints[leaves] = n;
  const levels = [leafLevel(sorted, dim, leafPoints)];
  let levelCodes = leafCodes;
  for (let l = 1; l <= bits; l++) {
    const below = levels[l - 1];
    // The nodes below in runs of one parent code (the codes less their last dim bits).
    const parentCodes = new Uint32Array(below.count);
    const first = new Uint32Array(below.count + 1);
    let parents = 0;
    for (let i = 0; i < below.count; i++) {
      const code = levelCodes[i] >>> dim;
      if (i === 0 || code !== parentCodes[parents - 1]) {
        parentCodes[parents] = code;
        first[parents++] = i;
      }
    }
    first[parents] = below.count;
    levels.push(parentLevel(below, dim, first.slice(0, parents + 1)));
    levelCodes = parentCodes.subarray(0, parents);
  }
  return { dim, count: n, sorted, order, levels, wasm };
}

/** buildTree's tree of 2-vectors built in the WebAssembly kernel's memory, where it fits. */
function residentTree(
  points: Float64Array,
  center: Float64Array,
  bits: number,
  grid: Grid,
): PointTree | undefined {
  const resident = pairKernel()?.build(points, center, bits, grid);
  if (!resident) return undefined;
  const none = new Float64Array(0);
  const indices = new Uint32Array(0);
  const levels = resident.counts.map((count) => ({
    count,
    first: indices,
    points: indices,
    ...{ weight: none, sum: none, mean: none, low: none, high: none, squares: none },
  }));
  const root = levels[levels.length - 1];
  root.sum = Float64Array.from(resident.sum);
  root.squares = Float64Array.of(resident.squares);
  const count = points.length / 2;
  return { dim: 2, count, sorted: none, order: indices, levels, wasm: true, resident };
}

/**
 * Each point's cell: the Morton code of its sub-bins on the grid; counts[code + 1] counts the
 * points of each cell.
 */
function cellCodes(
  points: Float64Array,
  dim: number,
  grid: Grid,
  counts: Uint32Array,
): Uint32Array {
  const n = points.length / dim;
  const codes = new Uint32Array(n);
  const { low, scale } = grid;
  if (dim === 2) {
    const [codesX, codesY] = grid.codes;
    const [lowX, lowY, scaleX, scaleY] = [low[0], low[1], scale[0], scale[1]];
    for (let p = 0, i = 0; p < n; p++, i += 2) {
      let subX = ((points[i] - lowX) * scaleX) | 0;
      let subY = ((points[i + 1] - lowY) * scaleY) | 0;
      subX = subX < 0 ? 0 : subX < SUB_BINS ? subX : SUB_BINS - 1;
      subY = subY < 0 ? 0 : subY < SUB_BINS ? subY : SUB_BINS - 1;
      const code = codesX[subX] | codesY[subY];
      codes[p] = code;
      counts[code + 1]++;
    }
    return codes;
  }
  for (let p = 0, i = 0; p < n; p++) {
    let code = 0;
    for (let j = 0; j < dim; j++, i++) {
      // Truncation is the floor here: below the range clamps to 0 either way.
      let sub = ((points[i] - low[j]) * scale[j]) | 0;
      sub = sub < 0 ? 0 : sub < SUB_BINS ? sub : SUB_BINS - 1;
      code |= grid.codes[j][sub];
    }
    codes[p] = code;
    counts[code + 1]++;
  }
  return codes;
}

/** The points less `center` in cell order (stable), and the input index of each. */
function sortByCell(
  points: Float64Array,
  dim: number,
  center: Float64Array,
  codes: Uint32Array,
  offsets: Uint32Array,
): { order: Uint32Array; sorted: Float64Array } {
  const n = codes.length;
  const order = new Uint32Array(n);
  const sorted = new Float64Array(n * dim);
  const next = offsets.slice(0, offsets.length - 1);
  if (dim === 2) {
    const [x, y] = center;
    for (let p = 0; p < n; p++) {
      const at = next[codes[p]]++;
      order[at] = p;
      sorted[2 * at] = points[2 * p] - x;
      sorted[2 * at + 1] = points[2 * p + 1] - y;
    }
    return { order, sorted };
  }
  for (let p = 0; p < n; p++) {
    const at = next[codes[p]]++;
    order[at] = p;
    for (let j = 0, from = p * dim, to = at * dim; j < dim; j++) {
      sorted[to + j] = points[from + j] - center[j];
    }
  }
  return { order, sorted };
}

function emptyLevel(count: number, dim: number, first: Uint32Array, points: Uint32Array): Level {
  return {
    count,
    first,
    points,
    weight: new Float64Array(count),
    sum: new Float64Array(count * dim),
    mean: new Float64Array(count * dim),
    low: new Float64Array(count * dim).fill(Infinity),
    high: new Float64Array(count * dim).fill(-Infinity),
    squares: new Float64Array(count),
  };
}

function leafLevel(sorted: Float64Array, dim: number, points: Uint32Array): Level {
  const count = points.length - 1;
  const level = emptyLevel(count, dim, points, points);
  const { weight, sum, mean, low, high, squares } = level;
  if (dim === 2) {
    pairLeaves(sorted, level);
    return level;
  }
  for (let i = 0; i < count; i++) {
    weight[i] = points[i + 1] - points[i];
    let square = 0;
    for (let q = points[i]; q < points[i + 1]; q++) {
      for (let j = 0; j < dim; j++) {
        const v = sorted[q * dim + j];
        sum[i * dim + j] += v;
        square += v * v;
        if (v < low[i * dim + j]) low[i * dim + j] = v;
        if (v > high[i * dim + j]) high[i * dim + j] = v;
      }
    }
    squares[i] = square;
    for (let j = 0; j < dim; j++) mean[i * dim + j] = sum[i * dim + j] / weight[i];
  }
  return level;
}

/** leafLevel's sums and boxes for 2-vectors, in locals (the loop above, 5–10× faster). */
function pairLeaves(sorted: Float64Array, level: Level): void {
  const { count, points, weight, sum, mean, low, high, squares } = level;
  for (let i = 0; i < count; i++) {
    let sx = 0;
    let sy = 0;
    let square = 0;
    let lowX = Infinity;
    let lowY = Infinity;
    let highX = -Infinity;
    let highY = -Infinity;
    for (let q = 2 * points[i], end = 2 * points[i + 1]; q < end; q += 2) {
      const x = sorted[q];
      const y = sorted[q + 1];
      sx += x;
      sy += y;
      square += x * x + y * y;
      if (x < lowX) lowX = x;
      if (x > highX) highX = x;
      if (y < lowY) lowY = y;
      if (y > highY) highY = y;
    }
    const w = points[i + 1] - points[i];
    weight[i] = w;
    squares[i] = square;
    sum[2 * i] = sx;
    sum[2 * i + 1] = sy;
    mean[2 * i] = sx / w;
    mean[2 * i + 1] = sy / w;
    low[2 * i] = lowX;
    low[2 * i + 1] = lowY;
    high[2 * i] = highX;
    high[2 * i + 1] = highY;
  }
}

function parentLevel(below: Level, dim: number, first: Uint32Array): Level {
  const count = first.length - 1;
  const points = new Uint32Array(count + 1);
  for (let i = 0; i <= count; i++) points[i] = below.points[first[i]];
  const level = emptyLevel(count, dim, first, points);
  if (dim === 2) {
    pairParents(below, level);
    return level;
  }
  const { weight, sum, mean, low, high, squares } = level;
  for (let i = 0; i < count; i++) {
    for (let c = first[i]; c < first[i + 1]; c++) {
      weight[i] += below.weight[c];
      squares[i] += below.squares[c];
      for (let j = 0; j < dim; j++) {
        sum[i * dim + j] += below.sum[c * dim + j];
        low[i * dim + j] = Math.min(low[i * dim + j], below.low[c * dim + j]);
        high[i * dim + j] = Math.max(high[i * dim + j], below.high[c * dim + j]);
      }
    }
    for (let j = 0; j < dim; j++) mean[i * dim + j] = sum[i * dim + j] / weight[i];
  }
  return level;
}

/** parentLevel's sums and boxes for 2-vectors, in locals (as pairLeaves). */
function pairParents(below: Level, level: Level): void {
  const { count, first, weight, sum, mean, low, high, squares } = level;
  for (let i = 0; i < count; i++) {
    let w = 0;
    let square = 0;
    let sx = 0;
    let sy = 0;
    let lowX = Infinity;
    let lowY = Infinity;
    let highX = -Infinity;
    let highY = -Infinity;
    for (let c = first[i]; c < first[i + 1]; c++) {
      w += below.weight[c];
      square += below.squares[c];
      sx += below.sum[2 * c];
      sy += below.sum[2 * c + 1];
      lowX = Math.min(lowX, below.low[2 * c]);
      lowY = Math.min(lowY, below.low[2 * c + 1]);
      highX = Math.max(highX, below.high[2 * c]);
      highY = Math.max(highY, below.high[2 * c + 1]);
    }
    weight[i] = w;
    squares[i] = square;
    sum[2 * i] = sx;
    sum[2 * i + 1] = sy;
    mean[2 * i] = sx / w;
    mean[2 * i + 1] = sy / w;
    low[2 * i] = lowX;
    low[2 * i + 1] = lowY;
    high[2 * i] = highX;
    high[2 * i + 1] = highY;
  }
}

function squaredDistance(
  a: Float64Array,
  i: number,
  b: Float64Array,
  j: number,
  dim: number,
): number {
  let d = 0;
  for (let t = 0; t < dim; t++) {
    const e = a[i * dim + t] - b[j * dim + t];
    d += e * e;
  }
  return d;
}

/** Weighted points: a level's nodes, or the points themselves. */
interface WeightedPoints {
  count: number;
  weight: Float64Array;
  /** count × dim coordinates. */
  mean: Float64Array;
}

/**
 * k-means++ trials: sums[t] = Σ weight × min(nearest, ‖p − chosen[t]‖²) over the points, the
 * potential of adding point chosen[t] as a centroid.
 */
type Potentials = (
  points: WeightedPoints,
  dim: number,
  chosen: Int32Array,
  nearest: Float64Array,
  sums: Float64Array,
) => void;

const potentialsAnyDim: Potentials = ({ count, weight, mean }, dim, chosen, nearest, sums) => {
  for (let t = 0; t < chosen.length; t++) {
    let sum = 0;
    for (let p = 0; p < count; p++) {
      sum += weight[p] * Math.min(nearest[p], squaredDistance(mean, p, mean, chosen[t], dim));
    }
    sums[t] = sum;
  }
};

/**
 * potentialsAnyDim for 2-vectors, four trials per pass over the points (the last repeated to
 * make up four): each point is read once for all of them (2–3× faster).
 */
const potentialsOfPairs: Potentials = ({ count, weight, mean }, _dim, chosen, nearest, sums) => {
  const last = chosen.length - 1;
  for (let t = 0; t <= last; t += 4) {
    const a = 2 * chosen[t];
    const b = 2 * chosen[Math.min(t + 1, last)];
    const c = 2 * chosen[Math.min(t + 2, last)];
    const d = 2 * chosen[Math.min(t + 3, last)];
    const [ax, ay, bx, by] = [mean[a], mean[a + 1], mean[b], mean[b + 1]];
    const [cx, cy, dx, dy] = [mean[c], mean[c + 1], mean[d], mean[d + 1]];
    let sa = 0;
    let sb = 0;
    let sc = 0;
    let sd = 0;
    for (let p = 0, q = 0; p < count; p++, q += 2) {
      const x = mean[q];
      const y = mean[q + 1];
      const near = nearest[p];
      const w = weight[p];
      sa += w * Math.min(near, (x - ax) * (x - ax) + (y - ay) * (y - ay));
      sb += w * Math.min(near, (x - bx) * (x - bx) + (y - by) * (y - by));
      sc += w * Math.min(near, (x - cx) * (x - cx) + (y - cy) * (y - cy));
      sd += w * Math.min(near, (x - dx) * (x - dx) + (y - dy) * (y - dy));
    }
    sums[t] = sa;
    if (t + 1 <= last) sums[t + 1] = sb;
    if (t + 2 <= last) sums[t + 2] = sc;
    if (t + 3 <= last) sums[t + 3] = sd;
  }
};

/**
 * A new centroid at `point`: nearest[p] = min(nearest[p], ‖p − point‖²), and cumulative[p] the
 * running Σ weight × nearest (k-means++ draws the next centroid from it); returns the total.
 */
function nearerTo(
  { count, weight, mean }: WeightedPoints,
  dim: number,
  point: number,
  nearest: Float64Array,
  cumulative: Float64Array,
): number {
  let total = 0;
  if (dim === 2) {
    const x = mean[2 * point];
    const y = mean[2 * point + 1];
    for (let p = 0, q = 0; p < count; p++, q += 2) {
      const d = Math.min(
        nearest[p],
        (mean[q] - x) * (mean[q] - x) + (mean[q + 1] - y) * (mean[q + 1] - y),
      );
      nearest[p] = d;
      cumulative[p] = total += weight[p] * d;
    }
    return total;
  }
  for (let p = 0; p < count; p++) {
    const d = Math.min(nearest[p], squaredDistance(mean, p, mean, point, dim));
    nearest[p] = d;
    cumulative[p] = total += weight[p] * d;
  }
  return total;
}

/**
 * Greedy k-means++ on weighted points: each new centroid is the best (least total weighted
 * squared distance) of 2 + ⌊ln k⌋ candidates drawn with probability ∝ weight × D².
 */
function seedCentroids(
  points: WeightedPoints,
  dim: number,
  k: number,
  next: () => number,
): Float64Array {
  const { count, weight, mean } = points;
  const centroids = new Float64Array(k * dim);
  const cumulative = new Float64Array(count);
  let total = 0;
  for (let p = 0; p < count; p++) cumulative[p] = total += weight[p];
  const draw = (target: number) => {
    let lo = 0;
    let hi = count - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] <= target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const first = draw(next() * total);
  centroids.set(mean.subarray(first * dim, first * dim + dim), 0);
  const nearest = new Float64Array(count).fill(Infinity);
  total = nearerTo(points, dim, first, nearest, cumulative);
  // (seedsOn draws as many numbers for the WebAssembly seeding.)
  const chosen = new Int32Array(2 + Math.floor(Math.log(k)));
  const sums = new Float64Array(chosen.length);
  const potentials = dim === 2 ? potentialsOfPairs : potentialsAnyDim;
  for (let c = 1; c < k; c++) {
    // The candidates are drawn from one distribution: all of them first, then one pass.
    for (let t = 0; t < chosen.length; t++) chosen[t] = draw(next() * total);
    potentials(points, dim, chosen, nearest, sums);
    let bestPotential = Infinity;
    let bestPoint = 0;
    for (let t = 0; t < chosen.length; t++) {
      if (sums[t] < bestPotential) {
        bestPotential = sums[t];
        bestPoint = chosen[t];
      }
    }
    centroids.set(mean.subarray(bestPoint * dim, bestPoint * dim + dim), c * dim);
    if (c + 1 < k) total = nearerTo(points, dim, bestPoint, nearest, cumulative);
  }
  return centroids;
}

/** Lloyd's assignment step: evaluate assigns and returns the squared error, means the update. */
interface Assignment {
  evaluate(centroids: Float64Array, labels?: Uint8Array): number;
  means(): Float64Array;
}

/**
 * Lloyd's assignment step point by point: for groups seeded on their points (large tables on
 * few points per centroid), where walking the tree costs more than it prunes, and on the nodes
 * of one level of the tree as weighted points (each joins its nearest centroid as a whole).
 */
class PointAssignment implements Assignment {
  private readonly totals: Float64Array;
  private readonly sums: Float64Array;
  private readonly squares: Float64Array;
  private readonly scratch: Uint8Array;
  private centroids: Float64Array = new Float64Array(0);

  /** `level` undefined: the tree's points themselves. */
  constructor(
    private readonly tree: PointTree,
    private readonly k: number,
    private readonly level?: Level,
  ) {
    this.totals = new Float64Array(k);
    this.sums = new Float64Array(k * tree.dim);
    this.squares = new Float64Array(k);
    this.scratch = new Uint8Array(level ? level.count : tree.count);
  }

  evaluate(centroids: Float64Array, labels?: Uint8Array): number {
    const { k, totals, sums, squares, level } = this;
    const { dim } = this.tree;
    this.centroids = centroids;
    if (dim === 2 && this.tree.wasm) {
      const tree = this.tree.resident ?? this.tree;
      const at = level ? this.tree.levels.indexOf(level) : -1;
      const out = { totals, sums, squares };
      if (pairKernel()?.assign(tree, at, centroids, k, out, labels)) {
        return clusterError(centroids, sums, squares, totals, dim);
      }
    }
    totals.fill(0);
    sums.fill(0);
    squares.fill(0);
    if (level) {
      const nearest = nearestLabels(level.mean, dim, centroids, k, this.scratch, this.tree.wasm);
      if (dim === 2) {
        // The loop below with the pair written out (the same sums).
        for (let i = 0; i < level.count; i++) {
          const label = nearest[i];
          totals[label] += level.weight[i];
          squares[label] += level.squares[i];
          sums[2 * label] += level.sum[2 * i];
          sums[2 * label + 1] += level.sum[2 * i + 1];
        }
        return clusterError(centroids, sums, squares, totals, dim);
      }
      for (let i = 0; i < level.count; i++) {
        const label = nearest[i];
        totals[label] += level.weight[i];
        squares[label] += level.squares[i];
        for (let t = 0; t < dim; t++) sums[label * dim + t] += level.sum[i * dim + t];
      }
      return clusterError(centroids, sums, squares, totals, dim);
    }
    const { sorted, order } = this.tree;
    const nearest = nearestLabels(sorted, dim, centroids, k, this.scratch, this.tree.wasm);
    if (dim === 2) {
      for (let q = 0; q < order.length; q++) {
        const label = nearest[q];
        const x = sorted[2 * q];
        const y = sorted[2 * q + 1];
        sums[2 * label] += x;
        sums[2 * label + 1] += y;
        squares[label] += x * x + y * y;
        totals[label]++;
        if (labels) labels[order[q]] = label;
      }
      return clusterError(centroids, sums, squares, totals, dim);
    }
    for (let q = 0, at = 0; q < order.length; q++, at += dim) {
      const label = nearest[q];
      let square = 0;
      for (let t = 0; t < dim; t++) {
        const v = sorted[at + t];
        sums[label * dim + t] += v;
        square += v * v;
      }
      squares[label] += square;
      totals[label]++;
      if (labels) labels[order[q]] = label;
    }
    return clusterError(centroids, sums, squares, totals, dim);
  }

  means(): Float64Array {
    return clusterMeans(this.centroids, this.sums, this.totals, this.tree.dim);
  }
}

/** The WebAssembly kernels of this thread (null where there are none), loaded on first use. */
let simdKernel: NearestCentroidKernel | null | undefined;
let treeKernel: KMeansTreeKernel | null | undefined;

function pairKernel(): KMeansTreeKernel | null {
  if (treeKernel === undefined) treeKernel = KMeansTreeKernel.load() ?? null;
  return treeKernel;
}

/**
 * Each point's nearest centroid (the first of equals): in WebAssembly for 2- and 4-vectors,
 * else in `scratch` by the loops below. Returns the labels (valid until the next call).
 */
function nearestLabels(
  points: Float64Array,
  dim: number,
  centroids: Float64Array,
  k: number,
  scratch: Uint8Array,
  wasm: boolean,
): Uint8Array {
  if (simdKernel === undefined) simdKernel = NearestCentroidKernel.load() ?? null;
  if (wasm && simdKernel && (dim === 2 || dim === 4)) {
    const labels = simdKernel.label(points, dim, centroids, k);
    if (labels) return labels;
  }
  (LABELLERS[dim] ?? labelAnyDim)(points, dim, centroids, k, scratch);
  return scratch;
}

/**
 * labels[p] = the centroid nearest point p (the first of equals), for every point. Unrolled
 * for vectors of 2 and 4 like NEARER.
 */
type Labeller = (
  points: Float64Array,
  dim: number,
  centroids: Float64Array,
  k: number,
  labels: Uint8Array,
) => void;

const labelAnyDim: Labeller = (points, dim, centroids, k, labels) => {
  for (let p = 0; p < labels.length; p++) {
    let nearest = Infinity;
    let label = 0;
    for (let j = 0; j < k; j++) {
      const d = squaredDistance(points, p, centroids, j, dim);
      if (d < nearest) {
        nearest = d;
        label = j;
      }
    }
    labels[p] = label;
  }
};

const LABELLERS: Partial<Record<number, Labeller>> = {
  2: (points, _dim, centroids, k, labels) => {
    for (let p = 0; p < labels.length; p++) {
      const x = points[2 * p];
      const y = points[2 * p + 1];
      let nearest = Infinity;
      let label = 0;
      for (let j = 0, c = 0; j < k; j++, c += 2) {
        const dx = x - centroids[c];
        const dy = y - centroids[c + 1];
        const d = dx * dx + dy * dy;
        if (d < nearest) {
          nearest = d;
          label = j;
        }
      }
      labels[p] = label;
    }
  },
  4: (points, _dim, centroids, k, labels) => {
    for (let p = 0, at = 0; p < labels.length; p++, at += 4) {
      const [x0, x1, x2, x3] = [points[at], points[at + 1], points[at + 2], points[at + 3]];
      let nearest = Infinity;
      let label = 0;
      for (let j = 0, c = 0; j < k; j++, c += 4) {
        const e0 = x0 - centroids[c];
        const e1 = x1 - centroids[c + 1];
        const e2 = x2 - centroids[c + 2];
        const e3 = x3 - centroids[c + 3];
        const d = e0 * e0 + e1 * e1 + e2 * e2 + e3 * e3;
        if (d < nearest) {
          nearest = d;
          label = j;
        }
      }
      labels[p] = label;
    }
  },
};

/** Σ ‖x − c‖² = Σ (squares − 2 c·sum + weight ‖c‖²) over the clusters. */
function clusterError(
  centroids: Float64Array,
  sums: Float64Array,
  squares: Float64Array,
  totals: Float64Array,
  dim: number,
): number {
  let error = 0;
  for (let j = 0; j < totals.length; j++) {
    let dot = 0;
    let norm = 0;
    for (let t = 0; t < dim; t++) {
      dot += centroids[j * dim + t] * sums[j * dim + t];
      norm += centroids[j * dim + t] ** 2;
    }
    error += squares[j] - 2 * dot + totals[j] * norm;
  }
  return Math.max(0, error);
}

/** The clusters' means (Lloyd's next centroids); an empty cluster's centroid stays. */
function clusterMeans(
  centroids: Float64Array,
  sums: Float64Array,
  totals: Float64Array,
  dim: number,
): Float64Array {
  const means = centroids.slice();
  for (let j = 0; j < totals.length; j++) {
    if (totals[j] === 0) continue;
    for (let t = 0; t < dim; t++) means[j * dim + t] = sums[j * dim + t] / totals[j];
  }
  return means;
}

/**
 * Lloyd's assignment step over a tree, down to `atomLevel`: its nodes are weighted points (each
 * joins the centroid nearest its mean), except at level -1, where leaves straddling a boundary
 * are resolved point by point. Keeps each cluster's weight, sum and sum of squares.
 */
class TreeAssignment implements Assignment {
  readonly totals: Float64Array;
  readonly sums: Float64Array;
  private readonly squares: Float64Array;
  private readonly norms: Float64Array;
  /** Candidate lists, k entries per tree depth. */
  private readonly candidates: Int32Array;
  private centroids: Float64Array = new Float64Array(0);
  private labels: Uint8Array | undefined;

  constructor(
    private readonly tree: PointTree,
    private readonly k: number,
    private readonly atomLevel: number,
  ) {
    this.totals = new Float64Array(k);
    this.sums = new Float64Array(k * tree.dim);
    this.squares = new Float64Array(k);
    this.norms = new Float64Array(k);
    this.candidates = new Int32Array((tree.levels.length + 1) * k);
  }

  /** Assigns everything to its nearest of `centroids`; returns the squared error. */
  evaluate(centroids: Float64Array, labels?: Uint8Array): number {
    const { k, tree } = this;
    const { dim } = tree;
    this.centroids = centroids;
    this.labels = labels;
    this.totals.fill(0);
    this.sums.fill(0);
    this.squares.fill(0);
    for (let j = 0; j < k; j++) {
      let norm = 0;
      for (let t = 0; t < dim; t++) norm += centroids[j * dim + t] ** 2;
      this.norms[j] = norm;
    }
    if (dim === 2 && tree.wasm) {
      const out = { totals: this.totals, sums: this.sums, squares: this.squares };
      const held = tree.resident ?? tree;
      if (pairKernel()?.evaluate(held, centroids, this.norms, k, this.atomLevel, out, labels)) {
        return clusterError(centroids, this.sums, this.squares, this.totals, dim);
      }
    }
    for (let j = 0; j < k; j++) this.candidates[j] = j;
    if (dim === 2) this.visitPairs(tree.levels.length - 1, 0, 0, k);
    else this.visit(tree.levels.length - 1, 0, 0, k);
    return clusterError(centroids, this.sums, this.squares, this.totals, dim);
  }

  /** Node i of level l with the `count` candidates at candidates[offset …]. */
  private visit(l: number, i: number, offset: number, count: number): void {
    const { candidates, k } = this;
    const { dim } = this.tree;
    const level = this.tree.levels[l];
    if (count === 1) {
      this.join(level, i, candidates[offset]);
      return;
    }
    // The candidate nearest the node's mean, then those some point of the box may be nearer to.
    const best = this.nearest(level.mean, i, offset, count);
    if (l === this.atomLevel) {
      this.join(level, i, best);
      return;
    }
    const kept = offset + k;
    let keptCount = 0;
    for (let c = offset; c < offset + count; c++) {
      const j = candidates[c];
      if (j === best || !this.dominated(level, i, j, best)) candidates[kept + keptCount++] = j;
    }
    if (keptCount === 1) {
      this.join(level, i, best);
      return;
    }
    if (l > 0) {
      for (let child = level.first[i]; child < level.first[i + 1]; child++) {
        this.visit(l - 1, child, kept, keptCount);
      }
      return;
    }
    // A leaf straddling a boundary joins `best`, and the points nearer another candidate move.
    this.join(level, i, best);
    const { sorted, order } = this.tree;
    const { totals, sums, squares, labels } = this;
    for (let q = level.points[i]; q < level.points[i + 1]; q++) {
      const label = this.nearest(sorted, q, kept, keptCount);
      if (label === best) continue;
      totals[best]--;
      totals[label]++;
      let square = 0;
      for (let t = 0; t < dim; t++) {
        const v = sorted[q * dim + t];
        sums[best * dim + t] -= v;
        sums[label * dim + t] += v;
        square += v * v;
      }
      squares[best] -= square;
      squares[label] += square;
      if (labels) labels[order[q]] = label;
    }
  }

  /**
   * visit for 2-vectors, with `nearest`, `dominated` and `join` written out on the node's
   * coordinates in locals (the same arithmetic, so the same clusters).
   */
  private visitPairs(l: number, i: number, offset: number, count: number): void {
    const { candidates, centroids, norms, k } = this;
    const level = this.tree.levels[l];
    if (count === 1) {
      this.joinPair(level, i, candidates[offset]);
      return;
    }
    const meanX = level.mean[2 * i];
    const meanY = level.mean[2 * i + 1];
    let best = candidates[offset];
    let nearest = Infinity;
    for (let c = offset; c < offset + count; c++) {
      const j = candidates[c];
      const dx = meanX - centroids[2 * j];
      const dy = meanY - centroids[2 * j + 1];
      const d = dx * dx + dy * dy;
      if (d < nearest) {
        nearest = d;
        best = j;
      }
    }
    if (l === this.atomLevel) {
      this.joinPair(level, i, best);
      return;
    }
    const bestX = centroids[2 * best];
    const bestY = centroids[2 * best + 1];
    const bestNorm = norms[best];
    const lowX = level.low[2 * i];
    const lowY = level.low[2 * i + 1];
    const highX = level.high[2 * i];
    const highY = level.high[2 * i + 1];
    const kept = offset + k;
    let keptCount = 0;
    for (let c = offset; c < offset + count; c++) {
      const j = candidates[c];
      if (j !== best) {
        const u = centroids[2 * j] - bestX;
        const v = centroids[2 * j + 1] - bestY;
        const a = (u > 0 ? highX : lowX) * u;
        const b = (v > 0 ? highY : lowY) * v;
        const scale = Math.abs(a) + Math.abs(b);
        if (2 * (a + b) < norms[j] - bestNorm - SLACK * (2 * scale + norms[j] + bestNorm)) continue;
      }
      candidates[kept + keptCount++] = j;
    }
    if (keptCount === 1) {
      this.joinPair(level, i, best);
      return;
    }
    if (l > 0) {
      for (let child = level.first[i]; child < level.first[i + 1]; child++) {
        this.visitPairs(l - 1, child, kept, keptCount);
      }
      return;
    }
    this.joinPair(level, i, best);
    const { sorted, order } = this.tree;
    const { totals, sums, squares, labels } = this;
    for (let q = level.points[i]; q < level.points[i + 1]; q++) {
      const x = sorted[2 * q];
      const y = sorted[2 * q + 1];
      let label = candidates[kept];
      let near = Infinity;
      for (let c = kept; c < kept + keptCount; c++) {
        const j = candidates[c];
        const dx = x - centroids[2 * j];
        const dy = y - centroids[2 * j + 1];
        const d = dx * dx + dy * dy;
        if (d < near) {
          near = d;
          label = j;
        }
      }
      if (label === best) continue;
      totals[best]--;
      totals[label]++;
      sums[2 * best] -= x;
      sums[2 * label] += x;
      sums[2 * best + 1] -= y;
      sums[2 * label + 1] += y;
      const square = x * x + y * y;
      squares[best] -= square;
      squares[label] += square;
      if (labels) labels[order[q]] = label;
    }
  }

  private joinPair(level: Level, i: number, j: number): void {
    this.totals[j] += level.weight[i];
    this.squares[j] += level.squares[i];
    this.sums[2 * j] += level.sum[2 * i];
    this.sums[2 * j + 1] += level.sum[2 * i + 1];
    if (this.labels) {
      const { order } = this.tree;
      for (let q = level.points[i]; q < level.points[i + 1]; q++) this.labels[order[q]] = j;
    }
  }

  /** The candidate nearest point i of `points` (the first of equals, in index order). */
  private nearest(points: Float64Array, i: number, offset: number, count: number): number {
    const { candidates, centroids } = this;
    let best = candidates[offset];
    let nearest = Infinity;
    if (this.tree.dim === 2) {
      const x = points[2 * i];
      const y = points[2 * i + 1];
      for (let c = offset; c < offset + count; c++) {
        const j = candidates[c];
        const dx = x - centroids[2 * j];
        const dy = y - centroids[2 * j + 1];
        const d = dx * dx + dy * dy;
        if (d < nearest) {
          nearest = d;
          best = j;
        }
      }
      return best;
    }
    for (let c = offset; c < offset + count; c++) {
      const d = squaredDistance(points, i, centroids, candidates[c], this.tree.dim);
      if (d < nearest) {
        nearest = d;
        best = candidates[c];
      }
    }
    return best;
  }

  /**
   * Whether every point of node i's box is at least as near centroid `best` as centroid `j`:
   * 2 x·(c_j − c_best) ≤ ‖c_j‖² − ‖c_best‖² at the box corner farthest along c_j − c_best.
   */
  private dominated(level: Level, i: number, j: number, best: number): boolean {
    const { centroids, norms } = this;
    const { dim } = this.tree;
    const { low, high } = level;
    let reach = 0;
    let scale = 0;
    if (dim === 2) {
      const u = centroids[2 * j] - centroids[2 * best];
      const v = centroids[2 * j + 1] - centroids[2 * best + 1];
      const a = (u > 0 ? high[2 * i] : low[2 * i]) * u;
      const b = (v > 0 ? high[2 * i + 1] : low[2 * i + 1]) * v;
      reach = a + b;
      scale = Math.abs(a) + Math.abs(b);
    } else {
      for (let t = 0; t < dim; t++) {
        const u = centroids[j * dim + t] - centroids[best * dim + t];
        const term = (u > 0 ? high[i * dim + t] : low[i * dim + t]) * u;
        reach += term;
        scale += Math.abs(term);
      }
    }
    const gap = norms[j] - norms[best];
    return 2 * reach < gap - SLACK * (2 * scale + norms[j] + norms[best]);
  }

  /** Node i joins cluster j as a whole. */
  private join(level: Level, i: number, j: number): void {
    const { dim } = this.tree;
    this.totals[j] += level.weight[i];
    this.squares[j] += level.squares[i];
    for (let t = 0; t < dim; t++) this.sums[j * dim + t] += level.sum[i * dim + t];
    if (this.labels) {
      const { order } = this.tree;
      for (let q = level.points[i]; q < level.points[i + 1]; q++) this.labels[order[q]] = j;
    }
  }

  means(): Float64Array {
    return clusterMeans(this.centroids, this.sums, this.totals, this.tree.dim);
  }
}

/**
 * When the iterations stop, by vector length: `settled`, a step lowering the error by less than
 * this fraction; `rankingSettled` and `middlePasses`, the same and the most passes for starts
 * converged on the middle level only to be ranked; `convergedPoints`, the largest groups whose
 * exact passes converge. Pairs, the tree's case, stop sooner: a third less time on
 * mobilenet_v2, its error up by 0.0002 (the ranking's order is settled long before its error).
 * Longer vectors keep the careful schedule: the sooner one raised mobilenet_v2's 4-vector error
 * from 0.9860 to 0.9891 of coremltools', above it on 5 tensors instead of none.
 */
interface Schedule {
  settled: number;
  rankingSettled: number;
  middlePasses: number;
  convergedPoints: number;
}
const PAIRS: Schedule = {
  settled: 1e-5,
  rankingSettled: 5e-4,
  middlePasses: 20,
  convergedPoints: 1 << 13,
};
const CAREFUL: Schedule = {
  settled: 1e-6,
  rankingSettled: 1e-6,
  middlePasses: RANKING_PASSES,
  convergedPoints: 1 << 15,
};
const schedule = (dim: number) => (dim === 2 ? PAIRS : CAREFUL);

/**
 * Lloyd's iterations from `start` until the centroids stop moving, a step gains less than
 * `settle` or `limit` passes are made, over-relaxed:
 * each step goes `stretch` times as far as Lloyd's, the stretch growing while that lowers the
 * error and falling back to a plain step when it does not. Returns the last centroids (means of
 * their clusters) and the error before that last move.
 */
function converge(
  assignment: Assignment,
  start: Float64Array,
  limit: number,
  settle: number,
): { centroids: Float64Array; error: number } {
  let at = start;
  let error = assignment.evaluate(at);
  let means = assignment.means();
  let stretch = 1.5;
  for (let pass = 1; pass < limit && !sameValues(means, at); pass++) {
    const ahead = new Float64Array(at.length);
    for (let i = 0; i < at.length; i++) ahead[i] = at[i] + stretch * (means[i] - at[i]);
    const tried = assignment.evaluate(ahead);
    if (tried <= error) {
      at = ahead;
      const settled = error - tried <= settle * tried;
      error = tried;
      stretch = Math.min(stretch * 1.5, 32);
      if (settled) {
        means = assignment.means();
        break;
      }
    } else {
      stretch = Math.max(1, stretch / 2);
      at = means;
      error = assignment.evaluate(at);
      pass++;
    }
    means = assignment.means();
  }
  return { centroids: means, error };
}

function sameValues(a: Float64Array, b: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Lloyd's assignment step on a level of the tree (-1: the points): walking the tree in 2
 * dimensions, where its boxes prune most centroids; point by point through the SIMD kernel for
 * 4-vectors, whose boxes prune few (2–4× faster on mobilenet_v2's 4-vectors).
 */
function levelAssignment(tree: PointTree, k: number, level: number): Assignment {
  if (tree.dim !== 4) return new TreeAssignment(tree, k, level);
  return new PointAssignment(tree, k, level < 0 ? undefined : tree.levels[level]);
}

/**
 * Whether a group seeds on its points themselves: when the leaves are too few to seed from (a
 * grid of 2^16 cells has few bins per coordinate in many dimensions), the smallest groups
 * always (it costs little), and small ones in 3 or more dimensions, where the grid is coarse
 * and its leaves, holding many points, are poor seeds.
 */
function onPoints(tree: PointTree, k: number): boolean {
  const work = tree.count * k;
  const fewLeaves = tree.levels[0].count < LEAVES_PER_CENTROID * k;
  return fewLeaves || work <= SMALL_SEEDING_WORK || (work <= POINT_SEEDING_WORK && tree.dim > 2);
}

function bestOnPoints(tree: PointTree, exact: Assignment, k: number, seed: number): Float64Array {
  const n = tree.count;
  const { settled } = schedule(tree.dim);
  const next = seededRandom(seed);
  let best: { centroids: Float64Array; error: number } = {
    centroids: new Float64Array(0),
    error: Infinity,
  };
  const restarts = Math.min(
    POINT_RESTARTS,
    Math.max(1, Math.floor(RANKING_WORK / (n * k * RANKING_PASSES))),
  );
  const passes = exactPasses(n, k, MAX_PASSES);
  for (let attempt = 0; attempt < restarts; attempt++) {
    const start = seedsOn(tree, -1, k, next);
    const result = converge(exact, start, Math.min(RANKING_PASSES, passes), settled);
    if (result.error < best.error) best = result;
  }
  return converge(exact, best.centroids, passes, settled).centroids;
}

/**
 * seedCentroids on the nodes of a level of the tree (-1: the points, each of weight 1), in
 * WebAssembly for 2-vectors from the same draws of `next`.
 */
function seedsOn(tree: PointTree, level: number, k: number, next: () => number): Float64Array {
  let draw = next;
  const kernel = tree.dim === 2 && tree.wasm ? pairKernel() : null;
  if (kernel) {
    const trials = 2 + Math.floor(Math.log(k));
    const randoms = new Float64Array(1 + (k - 1) * trials);
    for (let i = 0; i < randoms.length; i++) randoms[i] = next();
    const seeds = kernel.seed(tree.resident ?? tree, level, k, trials, randoms);
    if (seeds) return seeds;
    let taken = 0;
    draw = () => randoms[taken++];
  }
  const n = tree.count;
  const points =
    level >= 0
      ? tree.levels[level]
      : { count: n, weight: new Float64Array(n).fill(1), mean: tree.sorted };
  return seedCentroids(points, tree.dim, k, draw);
}

/** Passes on the exact points: `wanted`, within EXACT_WORK (but never fewer than EXACT_PASSES). */
function exactPasses(n: number, k: number, wanted: number): number {
  return Math.min(wanted, Math.max(EXACT_PASSES, Math.floor(EXACT_WORK / (n * k))));
}

/**
 * Seedings converged on the coarse level's nodes as weighted points, the best few ranked on the
 * middle level's, the best of those converged on the leaves', then refined on the exact points.
 */
function bestThroughLevels(
  tree: PointTree,
  exact: Assignment,
  k: number,
  seed: number,
): Float64Array {
  const { settled, rankingSettled, middlePasses, convergedPoints } = schedule(tree.dim);
  const coarseLevel = tree.levels.findIndex((level) => level.count <= COARSE_NODES);
  const coarse = new PointAssignment(tree, k, tree.levels[coarseLevel]);
  const onLevel = (level: number) => levelAssignment(tree, k, level);
  const next = seededRandom(seed);
  const starts: { centroids: Float64Array; error: number }[] = [];
  for (let attempt = 0; attempt < RESTARTS; attempt++) {
    const start = seedsOn(tree, coarseLevel, k, next);
    starts.push(converge(coarse, start, RANKING_PASSES, settled));
  }
  starts.sort((a, b) => a.error - b.error);
  let best = starts[0];
  // The best few ranked on a middle level, the best of them converged on the leaves.
  const middleLevel = tree.levels.findIndex((level) => level.count <= MIDDLE_NODES);
  if (middleLevel < coarseLevel) {
    const middle = onLevel(middleLevel);
    best = { centroids: best.centroids, error: Infinity };
    for (const start of starts.slice(0, REFINED)) {
      const result = converge(middle, start.centroids, middlePasses, rankingSettled);
      if (result.error < best.error) best = result;
    }
  }
  if (middleLevel > 0) {
    best = converge(onLevel(0), best.centroids, MAX_PASSES, settled);
  }
  const n = tree.count;
  const passes = n <= convergedPoints ? exactPasses(n, k, MAX_PASSES) : EXACT_PASSES;
  return converge(exact, best.centroids, passes, settled).centroids;
}

/**
 * Clusters `points` (n × dim, row-major) into at most `k` ≤ 256 centroids. When there are no
 * more distinct points than `k`, the distinct points themselves are the centroids. `round`
 * rounds the centroids as they will be stored; the points are assigned to the rounded ones.
 * `kernels` "javascript" runs the reference loops instead of the WebAssembly kernels (the same
 * results, bit for bit).
 */
export function vectorKMeans(
  points: Float64Array,
  dim: number,
  k: number,
  round: (x: number) => number = (x) => x,
  seed = 0,
  kernels: "wasm" | "javascript" = "wasm",
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
    let signal = 0;
    for (const v of points) signal += v * v;
    return { centroids, assignment, error: 0, signal };
  }
  const center = new Float64Array(dim);
  if (dim === 2) {
    // The loop below with the sums in locals (3× faster).
    let x = 0;
    let y = 0;
    for (let i = 0; i < 2 * n; i += 2) {
      x += points[i];
      y += points[i + 1];
    }
    center.set([x, y]);
  } else {
    for (let p = 0; p < n; p++) for (let j = 0; j < dim; j++) center[j] += points[p * dim + j];
  }
  for (let j = 0; j < dim; j++) center[j] /= n;
  const tree = buildTree(points, dim, center, kernels === "wasm");
  const seededOnPoints = onPoints(tree, k);
  const exact = seededOnPoints ? new PointAssignment(tree, k) : levelAssignment(tree, k, -1);
  const centroids = seededOnPoints
    ? bestOnPoints(tree, exact, k, seed)
    : bestThroughLevels(tree, exact, k, seed);
  // The table as stored, and every point assigned to its nearest stored entry.
  const stored = new Float64Array(k * dim);
  for (let c = 0; c < k; c++) {
    for (let j = 0; j < dim; j++) stored[c * dim + j] = round(centroids[c * dim + j] + center[j]);
  }
  const assignment = new Uint8Array(n);
  const error = exact.evaluate(
    stored.map((v, i) => v - center[i % dim]),
    assignment,
  );
  // Σ ‖x‖² = Σ ‖x − center‖² + 2 center·Σ (x − center) + n ‖center‖², from the tree's root.
  const root = tree.levels[tree.levels.length - 1];
  let signal = root.squares[0];
  for (let j = 0; j < dim; j++) signal += 2 * center[j] * root.sum[j] + n * center[j] ** 2;
  return { centroids: stored, assignment, error, signal };
}

function rowKey(points: Float64Array, p: number, dim: number): string {
  return Array.from(points.subarray(p * dim, p * dim + dim)).join(",");
}

/** The distinct rows (sorted keys), or undefined as soon as there are more than `limit`. */
function distinctRows(points: Float64Array, dim: number, limit: number): string[] | undefined {
  // Rows are compared as numbers, as equal keys would be (0 and −0 alike, NaN equal to NaN):
  // keys are made only for the distinct few (printing doubles took 2–4 % of the k-means).
  const firsts: number[] = [];
  for (let p = 0, at = 0; p < points.length / dim; p++, at += dim) {
    const known = firsts.some((first) => {
      for (let j = 0; j < dim; j++) {
        const a = points[first + j];
        const b = points[at + j];
        if (a !== b && !(a !== a && b !== b)) return false;
      }
      return true;
    });
    if (known) continue;
    firsts.push(at);
    if (firsts.length > limit) return undefined;
  }
  return firsts.map((first) => rowKey(points, first / dim, dim)).sort();
}
