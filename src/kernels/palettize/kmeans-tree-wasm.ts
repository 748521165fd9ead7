/**
 * WebAssembly for vector k-means on 2-vectors over the tree of their points
 * (wasm/kmeans-tree.wat), following vector-kmeans.ts (the reference) with its arithmetic and
 * order, so the same trees, seeds, sums and labels: building the tree, the greedy k-means++
 * seeding, Lloyd's assignment step walking the tree (TreeAssignment.visitPairs) and point by
 * point (PointAssignment). A fresh worker runs these at full speed from its first call, where
 * the JavaScript loops wait for V8 to optimize them. The tree lives in the module's memory (one
 * instance per thread): built there, or copied there when a call brings a tree built in
 * JavaScript. Unavailable (undefined) where WebAssembly is not.
 */
import { instantiateKernel, growMemory } from "../wasm/instantiate.js";
import { KMEANS_TREE_WASM } from "../wasm/kmeans-tree-module.js";

interface KMeansTreeExports {
  memory: WebAssembly.Memory;
  build(
    points: number,
    n: number,
    cx: number,
    cy: number,
    lowX: number,
    lowY: number,
    scaleX: number,
    scaleY: number,
    tables: number,
    codes: number,
    offsets: number,
    next: number,
    bits: number,
    sorted: number,
    order: number,
    records: number,
  ): number;
  seed(
    means: number,
    stride: number,
    weights: number,
    weightStride: number,
    count: number,
    k: number,
    trials: number,
    randoms: number,
    scratch: number,
  ): void;
  evaluate(
    sorted: number,
    order: number,
    labels: number,
    k: number,
    top: number,
    atom: number,
  ): void;
  assignNodes(level: number, k: number, scratch: number): void;
  assignPoints(
    sorted: number,
    order: number,
    labels: number,
    n: number,
    k: number,
    scratch: number,
  ): void;
}

/** Each cluster's weight, sum and Σ ‖x‖² (k, 2k and k entries). */
export interface ClusterSums {
  totals: Float64Array;
  sums: Float64Array;
  squares: Float64Array;
}

/** One level of the tree: nodes in Morton order, each a run of nodes of the level below. */
export interface TreeLevel {
  count: number;
  /** Node i's children are nodes first[i] … first[i + 1] − 1 of the level below (leaves: points). */
  first: Uint32Array;
  /** Node i's points are sorted[points[i]·dim … points[i + 1]·dim). */
  points: Uint32Array;
  weight: Float64Array;
  /** count × dim: sums and means of the nodes' points, and their bounding boxes. */
  sum: Float64Array;
  mean: Float64Array;
  low: Float64Array;
  high: Float64Array;
  /** Σ ‖x‖² over each node's points. */
  squares: Float64Array;
}

/** A tree built in JavaScript. */
export interface PairTree {
  sorted: Float64Array;
  order: Uint32Array;
  levels: TreeLevel[];
}

/** A tree built in the module's memory: its levels' node counts and the root's sums. */
export interface ResidentTree {
  counts: number[];
  /** The root's Σ x and Σ ‖x‖² over the points less the center. */
  sum: Float64Array;
  squares: number;
}

/** The density grid of vector-kmeans.ts for 2-vectors: its low corner, scales and code tables. */
export interface PairGrid {
  low: Float64Array;
  scale: Float64Array;
  codes: Uint32Array[];
}

/** Byte addresses of the module's fixed layout (see kmeans-tree.wat). */
const CENTROIDS = 128;
const NORMS = 4224;
const TOTALS = 6272;
const SUMS = 8320;
const SQUARES = 12416;
const SEEDS = 60928;
/** A weight of 1 (seeding on the points themselves), past the seeds. */
const ONE = 65024;
/** Where the tree's node records, then its points, input indices and labels start. */
const TREE = 65536;
const RECORD_BYTES = 96;
const MAX_LEVELS = 32;
/** Bytes for the random draws of a seeding: 1 + (k − 1)(2 + ⌊ln k⌋) ≤ 1786 doubles. */
const RANDOM_BYTES = 1 << 14;

export class KMeansTreeKernel {
  /** The tree now in memory (by identity: trees never change once built), and its points. */
  private loaded: PairTree | ResidentTree | undefined;
  private count = 0;
  private sortedAt = 0;
  private orderAt = 0;
  private labelsAt = 0;
  /** A byte per point (or node) for the labels of `assign`. */
  private scratchAt = 0;
  /** The random draws, then 16 bytes per point (or node), for `seed`. */
  private seedAt = 0;

  private constructor(private readonly exports: KMeansTreeExports) {}

  static load(): KMeansTreeKernel | undefined {
    const exports = instantiateKernel<KMeansTreeExports>(KMEANS_TREE_WASM);
    return exports && new KMeansTreeKernel(exports);
  }

  /**
   * Builds the tree of `points` (n × 2) less `center` on `grid` (2^bits cells a coordinate) in
   * memory, as vector-kmeans.ts's buildTree does; undefined when it does not fit, or where
   * buildTree's arithmetic is not followed (a point 2^31 sub-bins off the grid).
   */
  build(
    points: Float64Array,
    center: Float64Array,
    bits: number,
    grid: PairGrid,
  ): ResidentTree | undefined {
    this.loaded = undefined;
    const n = points.length / 2;
    const slots = 1 << (2 * bits);
    let records = 0;
    for (let l = 0; l <= bits; l++) records += Math.min(n, slots >>> (2 * l));
    // The points, code tables, cell codes, offsets and next slots, past the seeding's scratch.
    if (!this.layout(records, n, 16 * n + 8192 + 4 * n + 8 * slots + 4)) return undefined;
    const pointsAt = this.seedAt;
    const tablesAt = pointsAt + 16 * n;
    const codesAt = tablesAt + 8192;
    const offsetsAt = codesAt + 4 * n;
    const nextAt = offsetsAt + 4 * (slots + 1);
    const { buffer } = this.exports.memory;
    new Float64Array(buffer, pointsAt, 2 * n).set(points);
    new Uint32Array(buffer, tablesAt, 1024).set(grid.codes[0]);
    new Uint32Array(buffer, tablesAt + 4096, 1024).set(grid.codes[1]);
    new Uint32Array(buffer, offsetsAt, slots + 1).fill(0);
    const [lowX, lowY] = grid.low;
    const [scaleX, scaleY] = grid.scale;
    const { sortedAt, orderAt } = this;
    const failed = this.exports.build(
      pointsAt,
      n,
      center[0],
      center[1],
      lowX,
      lowY,
      scaleX,
      scaleY,
      tablesAt,
      codesAt,
      offsetsAt,
      nextAt,
      bits,
      sortedAt,
      orderAt,
      TREE,
    );
    if (failed) return undefined;
    const bases = new Uint32Array(buffer, 0, MAX_LEVELS);
    const counts = Array.from(
      { length: bits + 1 },
      (_, l) => (bases[l + 1] - bases[l]) / RECORD_BYTES,
    );
    const root = new Float64Array(buffer, bases[bits], RECORD_BYTES / 8);
    const tree = { counts, sum: root.slice(6, 8), squares: root[9] };
    this.loaded = tree;
    return tree;
  }

  /**
   * Greedy k-means++ seeds (seedCentroids in vector-kmeans.ts) on the nodes of level `level`
   * (-1: the points) from `randoms`, the uniform draws it takes in order; undefined when the
   * tree does not fit.
   */
  seed(
    tree: PairTree | ResidentTree,
    level: number,
    k: number,
    trials: number,
    randoms: Float64Array,
  ): Float64Array | undefined {
    if (!this.hold(tree)) return undefined;
    const { memory, seed } = this.exports;
    const { buffer } = memory;
    new Float64Array(buffer, this.seedAt, randoms.length).set(randoms);
    const scratch = this.seedAt + RANDOM_BYTES;
    if (level >= 0) {
      const bases = new Uint32Array(buffer, 0, MAX_LEVELS);
      const records = bases[level];
      const count = (bases[level + 1] - records) / RECORD_BYTES;
      const weights = records + 64;
      seed(records, RECORD_BYTES, weights, RECORD_BYTES, count, k, trials, this.seedAt, scratch);
    } else {
      seed(this.sortedAt, 16, ONE, 0, this.count, k, trials, this.seedAt, scratch);
    }
    return new Float64Array(buffer, SEEDS, 2 * k).slice();
  }

  /**
   * Assigns the tree's nodes (down to level `atom`; -1: the points) to their nearest of the k
   * centroids, whose squared norms are `norms`: each cluster's weight, sum and Σ ‖x‖² go to
   * `out`, and with `labels` each input point's centroid. False when the tree does not fit
   * (4 GiB) or is too deep.
   */
  evaluate(
    tree: PairTree | ResidentTree,
    centroids: Float64Array,
    norms: Float64Array,
    k: number,
    atom: number,
    out: ClusterSums,
    labels?: Uint8Array,
  ): boolean {
    if (!this.hold(tree)) return false;
    this.setCentroids(centroids, k);
    new Float64Array(this.exports.memory.buffer, NORMS, k).set(norms.subarray(0, k));
    const top = ("counts" in tree ? tree.counts : tree.levels).length - 1;
    this.exports.evaluate(this.sortedAt, this.orderAt, labels ? this.labelsAt : 0, k, top, atom);
    this.collect(k, out, labels);
    return true;
  }

  /**
   * Each node of level `level` (-1: each point) joins its nearest of the k centroids, as
   * PointAssignment does; the sums and labels as `evaluate`'s.
   */
  assign(
    tree: PairTree | ResidentTree,
    level: number,
    centroids: Float64Array,
    k: number,
    out: ClusterSums,
    labels?: Uint8Array,
  ): boolean {
    if (!this.hold(tree)) return false;
    this.setCentroids(centroids, k);
    const { sortedAt, orderAt, scratchAt, count } = this;
    if (level >= 0) this.exports.assignNodes(level, k, scratchAt);
    else {
      this.exports.assignPoints(sortedAt, orderAt, labels ? this.labelsAt : 0, count, k, scratchAt);
    }
    this.collect(k, out, labels);
    return true;
  }

  /** Whether `tree` is in memory (a tree built in JavaScript is copied there if it fits). */
  private hold(tree: PairTree | ResidentTree): boolean {
    if (tree === this.loaded) return true;
    // A resident tree lives only in memory: nothing could take its steps in JavaScript.
    if ("counts" in tree) throw new Error("vector k-means: the resident tree was replaced");
    return this.place(tree);
  }

  private setCentroids(centroids: Float64Array, k: number): void {
    new Float64Array(this.exports.memory.buffer, CENTROIDS, 2 * k).set(
      centroids.subarray(0, 2 * k),
    );
  }

  private collect(k: number, out: ClusterSums, labels?: Uint8Array): void {
    const { buffer } = this.exports.memory;
    out.totals.set(new Float64Array(buffer, TOTALS, k));
    out.sums.set(new Float64Array(buffer, SUMS, 2 * k));
    out.squares.set(new Float64Array(buffer, SQUARES, k));
    if (labels) labels.set(new Uint8Array(buffer, this.labelsAt, labels.length));
  }

  /**
   * Addresses for `records` node records and n points (sorted, input indices, labels, scratch,
   * seeding; `temporary` bytes at least for the last); false when memory cannot grow.
   */
  private layout(records: number, n: number, temporary = 0): boolean {
    this.count = n;
    this.sortedAt = TREE + records * RECORD_BYTES;
    this.orderAt = this.sortedAt + 16 * n;
    this.labelsAt = this.orderAt + 4 * n;
    this.scratchAt = this.labelsAt + n;
    this.seedAt = Math.ceil((this.scratchAt + n) / 8) * 8;
    const end = this.seedAt + Math.max(RANDOM_BYTES + 16 * n, temporary);
    const { memory } = this.exports;
    if (!growMemory(memory, end)) return false;
    new Float64Array(memory.buffer, ONE, 1)[0] = 1;
    return true;
  }

  /** Copies a tree built in JavaScript into memory; false when it does not fit. */
  private place(tree: PairTree): boolean {
    this.loaded = undefined;
    const { levels, sorted, order } = tree;
    if (levels.length >= MAX_LEVELS) return false;
    let records = 0;
    for (const level of levels) records += level.count;
    if (!this.layout(records, order.length)) return false;
    const { buffer } = this.exports.memory;
    const bases = new Uint32Array(buffer, 0, MAX_LEVELS);
    let at = TREE;
    for (let l = 0; l < levels.length; l++) {
      bases[l] = at;
      writeRecords(levels[l], new Float64Array(buffer, at, levels[l].count * 12));
      at += levels[l].count * RECORD_BYTES;
    }
    // Where the level above would start: the end of each level's records.
    bases[levels.length] = at;
    new Float64Array(buffer, this.sortedAt, sorted.length).set(sorted);
    new Uint32Array(buffer, this.orderAt, order.length).set(order);
    this.loaded = tree;
    return true;
  }
}

/** A level's nodes as 96-byte records: 10 doubles, then 4 indices in the last two doubles' bytes. */
function writeRecords(level: TreeLevel, records: Float64Array): void {
  const { count, first, points, weight, sum, mean, low, high, squares } = level;
  const indices = new Uint32Array(records.buffer, records.byteOffset, records.length * 2);
  for (let i = 0, r = 0; i < count; i++, r += 12) {
    records[r] = mean[2 * i];
    records[r + 1] = mean[2 * i + 1];
    records[r + 2] = low[2 * i];
    records[r + 3] = low[2 * i + 1];
    records[r + 4] = high[2 * i];
    records[r + 5] = high[2 * i + 1];
    records[r + 6] = sum[2 * i];
    records[r + 7] = sum[2 * i + 1];
    records[r + 8] = weight[i];
    records[r + 9] = squares[i];
    indices[2 * r + 20] = first[i];
    indices[2 * r + 21] = first[i + 1];
    indices[2 * r + 22] = points[i];
    indices[2 * r + 23] = points[i + 1];
  }
}
