/**
 * WebAssembly SIMD for one layer of the exact 1-D k-means program (wasm/kmeans-layer.wat): the
 * same divide and conquer as LayerSolver's JavaScript fill, candidates scanned two at a time
 * with bit-identical arithmetic. The solver's arrays then live in the module's memory (one
 * instance per thread). Unavailable (undefined) where WebAssembly SIMD is not.
 */
import { instantiateKernel, growMemory } from "../wasm/instantiate.js";
import { KMEANS_LAYER_WASM } from "../wasm/kmeans-layer-module.js";

interface KMeansLayerExports {
  memory: WebAssembly.Memory;
  fill(m: number, lo: number, hi: number, optLo: number, optHi: number): void;
  w: WebAssembly.Global;
  s: WebAssembly.Global;
  s2: WebAssembly.Global;
  previous: WebAssembly.Global;
  current: WebAssembly.Global;
  split: WebAssembly.Global;
  row: WebAssembly.Global;
  stride: WebAssembly.Global;
  solvedFrom: WebAssembly.Global;
  solvedTo: WebAssembly.Global;
  margin: WebAssembly.Global;
  outside: WebAssembly.Global;
}

/** The arrays of LayerSolver. */
export interface LayerArrays {
  w: Float64Array;
  s: Float64Array;
  s2: Float64Array;
  previous: Float64Array;
  current: Float64Array;
  split: Uint32Array;
}

/** Where a layer reads and writes, and what the layer below holds. */
export interface LayerTask {
  previous: Float64Array;
  current: Float64Array;
  /** Index in split of the layer's first entry, and points per layer. */
  row: number;
  stride: number;
  /** End points the layer below is solved for. */
  solvedFrom: number;
  solvedTo: number;
  /** How far under the layer below's cost at solvedTo a cost must be to rule out later starts. */
  margin: number;
}

export class SimdLayerKernel {
  private constructor(private readonly exports: KMeansLayerExports) {}

  static load(): SimdLayerKernel | undefined {
    const exports = instantiateKernel<KMeansLayerExports>(KMEANS_LAYER_WASM);
    return exports && new SimdLayerKernel(exports);
  }

  /**
   * Fresh arrays in the module's memory: `size` points, `splitSize` split entries; undefined
   * when they do not fit (4 GiB).
   */
  allocate(size: number, splitSize: number): LayerArrays | undefined {
    const { memory } = this.exports;
    const doubles = 5 * size * 8;
    const end = doubles + splitSize * 4;
    if (!growMemory(memory, end)) return undefined;
    const buffer = memory.buffer;
    const at = (i: number) => new Float64Array(buffer, i * size * 8, size);
    const arrays = {
      w: at(0),
      s: at(1),
      s2: at(2),
      previous: at(3),
      current: at(4),
      split: new Uint32Array(buffer, doubles, splitSize),
    };
    for (const name of ["w", "s", "s2", "split"] as const) {
      this.exports[name].value = arrays[name].byteOffset;
    }
    return arrays;
  }

  /** LayerSolver.fill; returns whether it needed costs of the layer below outside where it is solved. */
  fill(task: LayerTask, m: number, lo: number, hi: number, optLo: number, optHi: number): boolean {
    const { exports } = this;
    exports.previous.value = task.previous.byteOffset;
    exports.current.value = task.current.byteOffset;
    exports.row.value = task.row;
    exports.stride.value = task.stride;
    exports.solvedFrom.value = task.solvedFrom;
    exports.solvedTo.value = task.solvedTo;
    exports.margin.value = task.margin;
    exports.outside.value = 0;
    exports.fill(m, lo, hi, optLo, optHi);
    return exports.outside.value === 1;
  }
}
