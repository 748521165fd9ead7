/**
 * WebAssembly SIMD for magnitude pruning of fp16 weights (wasm/half-prune.wat): mask bytes and
 * the kept values, 8 halves at a time. One instance per thread; halves pass through its memory
 * in chunks. Unavailable (undefined) where WebAssembly SIMD is not.
 */
import { HALF_PRUNE_WASM } from "./wasm/half-prune-module.js";
import { instantiateKernel } from "./wasm/instantiate.js";

interface HalfPruneExports {
  memory: WebAssembly.Memory;
  buildTable(table: number): void;
  sparsify(
    src: number,
    count: number,
    limit: number,
    prunedNaN: number,
    table: number,
    mask: number,
    kept: number,
  ): number;
}

/** Halves per call (a multiple of 8). */
const CHUNK = 1 << 15;
const TABLE = 0;
const SRC = TABLE + 256 * 16;
const MASK = SRC + 2 * CHUNK;
const KEPT = MASK + CHUNK / 8;
const END = KEPT + 2 * (CHUNK + 8);

export class SimdHalfPruner {
  private constructor(private readonly exports: HalfPruneExports) {}

  static load(): SimdHalfPruner | undefined {
    const exports = instantiateKernel<HalfPruneExports>(HALF_PRUNE_WASM);
    if (!exports) return undefined;
    exports.memory.grow(Math.ceil(END / 65536));
    exports.buildTable(TABLE);
    return new SimdHalfPruner(exports);
  }

  /**
   * Sparsifies the leading multiple of 8 of `bits` into `mask` and `data` (see the kernel);
   * returns how many elements it did and how many values it kept.
   */
  sparsify(
    bits: Uint16Array,
    limitKey: number,
    prunedNaN: number,
    mask: Uint8Array,
    data: Uint16Array,
  ): { done: number; kept: number } {
    const buffer = this.exports.memory.buffer;
    const src = new Uint16Array(buffer, SRC, CHUNK);
    const masks = new Uint8Array(buffer, MASK, CHUNK / 8);
    const kept = new Uint16Array(buffer, KEPT, CHUNK + 8);
    const done = bits.length - (bits.length % 8);
    // The kernel compares patterns as int16: every magnitude is at most 0x7fff.
    const limit = Math.min(limitKey, 0x7fff);
    let total = 0;
    for (let start = 0; start < done; start += CHUNK) {
      const count = Math.min(CHUNK, done - start);
      src.set(bits.subarray(start, start + count));
      const found = this.exports.sparsify(SRC, count, limit, prunedNaN, TABLE, MASK, KEPT);
      mask.set(masks.subarray(0, count / 8), start / 8);
      data.set(kept.subarray(0, found), total);
      total += found;
    }
    return { done, kept: total };
  }
}
