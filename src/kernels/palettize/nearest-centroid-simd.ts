/**
 * WebAssembly SIMD for Lloyd's assignment step of vector k-means on 2- and 4-vectors
 * (wasm/nearest-centroid.wat): each point's nearest centroid with the arithmetic and tie order
 * of the JavaScript loops in vector-kmeans.ts, so the labels are the same. The points live in
 * the module's memory (one instance per thread), copied there when a call brings other points.
 * Unavailable (undefined) where WebAssembly SIMD is not.
 */
import { instantiateKernel, growMemory } from "../wasm/instantiate.js";
import { NEAREST_CENTROID_WASM } from "../wasm/nearest-centroid-module.js";

interface NearestCentroidExports {
  memory: WebAssembly.Memory;
  label2(points: number, n: number, centroids: number, k: number, labels: number): void;
  label4(points: number, n: number, centroids: number, k: number, labels: number): void;
}

/** Bytes of the splatted centroids: up to 256 centroids of 4 coordinates, 16 bytes each. */
const CENTROID_BYTES = 256 * 4 * 16;

export class NearestCentroidKernel {
  /** The points now in memory (by identity: callers never change points they label). */
  private loaded: Float64Array | undefined;
  private labelsAt = CENTROID_BYTES;
  private pointsAt = CENTROID_BYTES;

  private constructor(private readonly exports: NearestCentroidExports) {}

  static load(): NearestCentroidKernel | undefined {
    const exports = instantiateKernel<NearestCentroidExports>(NEAREST_CENTROID_WASM);
    return exports && new NearestCentroidKernel(exports);
  }

  /** Whether `label` takes vectors of `dim`. */
  static handles(dim: number): boolean {
    return dim === 2 || dim === 4;
  }

  /**
   * Each point's nearest of the k centroids (the first of equals), as a view of the module's
   * memory valid until the next call; undefined when the points do not fit (4 GiB).
   */
  label(
    points: Float64Array,
    dim: 2 | 4,
    centroids: Float64Array,
    k: number,
  ): Uint8Array | undefined {
    const n = points.length / dim;
    if (points !== this.loaded && !this.place(points, n)) return undefined;
    const { memory } = this.exports;
    const splat = new Float64Array(memory.buffer, 0, 2 * k * dim);
    for (let i = 0; i < k * dim; i++) splat[2 * i] = splat[2 * i + 1] = centroids[i];
    const call = dim === 2 ? this.exports.label2 : this.exports.label4;
    call(this.pointsAt, n, 0, k, this.labelsAt);
    return new Uint8Array(memory.buffer, this.labelsAt, n);
  }

  private place(points: Float64Array, n: number): boolean {
    const { memory } = this.exports;
    this.loaded = undefined;
    // Labels, then the points on a 16-byte boundary.
    this.pointsAt = this.labelsAt + Math.ceil(n / 16) * 16;
    const end = this.pointsAt + points.byteLength;
    if (!growMemory(memory, end)) return false;
    new Float64Array(memory.buffer, this.pointsAt, points.length).set(points);
    this.loaded = points;
    return true;
  }
}
