/**
 * WebAssembly for Lloyd's assignment step of vector k-means on 2-vectors over the tree of their
 * points (wasm/kmeans-tree.wat): the walk of TreeAssignment.visitPairs in vector-kmeans.ts with
 * its arithmetic and order, so the same sums and labels. The tree lives in the module's memory
 * (one instance per thread), copied there when a call brings another tree. Unavailable
 * (undefined) where WebAssembly is not.
 */
import { instantiateKernel } from "../wasm/instantiate.js";
import { KMEANS_TREE_WASM } from "../wasm/kmeans-tree-module.js";

interface KMeansTreeExports {
  memory: WebAssembly.Memory;
  evaluate(
    sorted: number,
    order: number,
    labels: number,
    k: number,
    top: number,
    atom: number,
  ): void;
  assignNodes(level: number, k: number, scratch: number): void;
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

/** A level of the tree as vector-kmeans.ts builds it (2-vectors). */
export interface TreeLevel {
  count: number;
  first: Uint32Array;
  points: Uint32Array;
  weight: Float64Array;
  sum: Float64Array;
  mean: Float64Array;
  low: Float64Array;
  high: Float64Array;
  squares: Float64Array;
}

export interface PairTree {
  sorted: Float64Array;
  order: Uint32Array;
  levels: TreeLevel[];
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
/** Where the tree's node records, points, input indices and labels start. */
const TREE = 65536;
/** Bytes for the random draws of a seeding: 1 + (k − 1)(2 + ⌊ln k⌋) ≤ 1786 doubles. */
const RANDOM_BYTES = 1 << 14;
const RECORD_BYTES = 96;
const MAX_LEVELS = 32;

export class KMeansTreeKernel {
  /** The tree now in memory (by identity: trees never change once built). */
  private loaded: PairTree | undefined;
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
   * Assigns the tree's nodes (down to level `atom`; -1: the points) to their nearest of the k
   * centroids, whose squared norms are `norms`: each cluster's weight, sum and Σ ‖x‖² go to
   * `totals`, `sums` and `squares`, and with `labels` each input point's centroid. False when
   * the tree does not fit (4 GiB) or is too deep.
   */
  evaluate(
    tree: PairTree,
    centroids: Float64Array,
    norms: Float64Array,
    k: number,
    atom: number,
    out: ClusterSums,
    labels?: Uint8Array,
  ): boolean {
    if (!this.prepare(tree, centroids, k)) return false;
    new Float64Array(this.exports.memory.buffer, NORMS, k).set(norms.subarray(0, k));
    const top = tree.levels.length - 1;
    this.exports.evaluate(this.sortedAt, this.orderAt, labels ? this.labelsAt : 0, k, top, atom);
    this.collect(k, out, labels);
    return true;
  }

  /**
   * Each node of level `level` (-1: each point) joins its nearest of the k centroids, as
   * PointAssignment does; the sums and labels as `evaluate`'s.
   */
  assign(
    tree: PairTree,
    level: number,
    centroids: Float64Array,
    k: number,
    out: ClusterSums,
    labels?: Uint8Array,
  ): boolean {
    if (!this.prepare(tree, centroids, k)) return false;
    if (level >= 0) this.exports.assignNodes(level, k, this.scratchAt);
    else {
      const { sortedAt, orderAt, scratchAt } = this;
      const n = tree.order.length;
      this.exports.assignPoints(sortedAt, orderAt, labels ? this.labelsAt : 0, n, k, scratchAt);
    }
    this.collect(k, out, labels);
    return true;
  }

  /**
   * Greedy k-means++ seeds (seedCentroids in vector-kmeans.ts) on the nodes of level `level`
   * (-1: the points) from `randoms`, the uniform draws it takes in order; undefined when the
   * tree does not fit.
   */
  seed(
    tree: PairTree,
    level: number,
    k: number,
    trials: number,
    randoms: Float64Array,
  ): Float64Array | undefined {
    if (tree !== this.loaded && !this.place(tree)) return undefined;
    const { memory, seed } = this.exports;
    const { buffer } = memory;
    new Float64Array(buffer, this.seedAt, randoms.length).set(randoms);
    const scratch = this.seedAt + RANDOM_BYTES;
    if (level >= 0) {
      const records = new Uint32Array(buffer, 0, MAX_LEVELS)[level];
      const count = tree.levels[level].count;
      seed(
        records,
        RECORD_BYTES,
        records + 64,
        RECORD_BYTES,
        count,
        k,
        trials,
        this.seedAt,
        scratch,
      );
    } else {
      const n = tree.order.length;
      seed(this.sortedAt, 16, ONE, 0, n, k, trials, this.seedAt, scratch);
    }
    return new Float64Array(buffer, SEEDS, 2 * k).slice();
  }

  /** The tree in memory and the centroids with it; false when it does not fit. */
  private prepare(tree: PairTree, centroids: Float64Array, k: number): boolean {
    if (tree !== this.loaded && !this.place(tree)) return false;
    new Float64Array(this.exports.memory.buffer, CENTROIDS, 2 * k).set(
      centroids.subarray(0, 2 * k),
    );
    return true;
  }

  private collect(k: number, out: ClusterSums, labels?: Uint8Array): void {
    const { buffer } = this.exports.memory;
    out.totals.set(new Float64Array(buffer, TOTALS, k));
    out.sums.set(new Float64Array(buffer, SUMS, 2 * k));
    out.squares.set(new Float64Array(buffer, SQUARES, k));
    if (labels) labels.set(new Uint8Array(buffer, this.labelsAt, labels.length));
  }

  private place(tree: PairTree): boolean {
    const { memory } = this.exports;
    this.loaded = undefined;
    const { levels, sorted, order } = tree;
    if (levels.length >= MAX_LEVELS) return false;
    const n = order.length;
    let records = 0;
    for (const level of levels) records += level.count;
    this.sortedAt = TREE + records * RECORD_BYTES;
    this.orderAt = this.sortedAt + sorted.byteLength;
    this.labelsAt = this.orderAt + order.byteLength;
    this.scratchAt = this.labelsAt + n;
    this.seedAt = Math.ceil((this.scratchAt + n) / 8) * 8;
    const end = this.seedAt + RANDOM_BYTES + 16 * n;
    if (memory.buffer.byteLength < end) {
      try {
        memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
      } catch (error) {
        if (error instanceof RangeError) return false;
        throw error;
      }
    }
    const { buffer } = memory;
    new Float64Array(buffer, ONE, 1)[0] = 1;
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
    new Uint32Array(buffer, this.orderAt, n).set(order);
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
