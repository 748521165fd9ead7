/**
 * WebAssembly SIMD for linear quantization of finite fp16 weights (wasm/half-quantize.wat):
 * block ranges, and quantization 8 halves at a time with numpy's float32 and half roundings.
 * Each thread instantiates the module once; its memory holds a chunk of halves and per-run and
 * per-block tables. Unavailable (undefined) where WebAssembly SIMD is not.
 */
import { HALF_QUANTIZE_WASM } from "./wasm/half-quantize-module.js";
import { instantiateKernel } from "./wasm/instantiate.js";

interface HalfQuantizeExports {
  memory: WebAssembly.Memory;
  signal: WebAssembly.Global;
  noise: WebAssembly.Global;
  ranges(src: number, runs: number, runLength: number, runBlocks: number, out: number): void;
  quantize(
    src: number,
    dst: number,
    runs: number,
    runLength: number,
    runBlocks: number,
    params: number,
    qMin: number,
    qMax: number,
  ): void;
}

let loaded: HalfQuantizeExports | null | undefined;

function kernel(): HalfQuantizeExports | undefined {
  if (loaded === undefined) {
    loaded = instantiateKernel<HalfQuantizeExports>(HALF_QUANTIZE_WASM) ?? null;
  }
  return loaded ?? undefined;
}

/**
 * A tensor of halves as the kernels take it: `runBlocks.length` runs of `runLength` consecutive
 * elements (a multiple of 8), run r in block runBlocks[r] of `blocks`.
 */
export interface HalfRuns {
  halves: Uint16Array;
  runLength: number;
  runBlocks: Int32Array;
  blocks: number;
}

/** Halves per chunk (at least; whole runs): small enough to stay in a core's cache. */
const CHUNK_ELEMENTS = 1 << 15;

const align = (bytes: number) => Math.ceil(bytes / 16) * 16;

/** Per block: its scale, zero point as computed (may be NaN) and zero point as stored. */
export interface HalfBlockParameters {
  scale: Float64Array;
  zeroPoint: Float64Array;
  offset: Float64Array;
}

/** A tensor of halves laid out for both kernels, passed through the module's memory in chunks. */
export class SimdHalfTensor {
  private readonly buffer: ArrayBuffer;
  /** Runs per chunk: halves pass through the module's memory a chunk at a time. */
  private readonly chunkRuns: number;
  private readonly dst: number;
  private readonly runBlocks: number;
  private readonly params: number;
  private readonly ranges: number;

  /**
   * Undefined where WebAssembly SIMD is not available, or when the tensor's tables do not fit
   * the module's memory (4 GiB).
   */
  static load(runs: HalfRuns): SimdHalfTensor | undefined {
    const exports = kernel();
    try {
      return exports && new SimdHalfTensor(exports, runs);
    } catch (error) {
      if (error instanceof RangeError) return undefined;
      throw error;
    }
  }

  private constructor(
    private readonly exports: HalfQuantizeExports,
    private readonly runs: HalfRuns,
  ) {
    this.chunkRuns = Math.max(1, Math.floor(CHUNK_ELEMENTS / runs.runLength));
    const chunkElements = this.chunkRuns * runs.runLength;
    this.dst = align(2 * chunkElements);
    this.runBlocks = align(this.dst + chunkElements);
    this.params = align(this.runBlocks + 4 * runs.runBlocks.length);
    this.ranges = align(this.params + 16 * runs.blocks);
    const end = this.ranges + 8 * runs.blocks;
    const { memory } = exports;
    if (memory.buffer.byteLength < end) {
      memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
    }
    this.buffer = memory.buffer as ArrayBuffer;
    new Int32Array(this.buffer, this.runBlocks, runs.runBlocks.length).set(runs.runBlocks);
  }

  /** Copies each chunk of halves in and calls `run(first run, runs)` on it. */
  private forEachChunk(run: (first: number, runs: number) => void): void {
    const { halves, runLength, runBlocks } = this.runs;
    const staged = new Uint16Array(this.buffer, 0, this.chunkRuns * runLength);
    for (let first = 0; first < runBlocks.length; first += this.chunkRuns) {
      const runs = Math.min(this.chunkRuns, runBlocks.length - first);
      staged.set(halves.subarray(first * runLength, (first + runs) * runLength));
      run(first, runs);
    }
  }

  /** Per block, the largest pattern read as int16 and read as uint16. */
  blockMaxima(): { maxSigned: Int32Array; maxUnsigned: Int32Array } {
    const { blocks, runLength } = this.runs;
    const slots = new Int32Array(this.buffer, this.ranges, 2 * blocks);
    for (let b = 0; b < blocks; b++) {
      slots[2 * b] = -0x8000;
      slots[2 * b + 1] = 0;
    }
    this.forEachChunk((first, runs) =>
      this.exports.ranges(0, runs, runLength, this.runBlocks + 4 * first, this.ranges),
    );
    const maxSigned = new Int32Array(blocks);
    const maxUnsigned = new Int32Array(blocks);
    for (let b = 0; b < blocks; b++) {
      maxSigned[b] = slots[2 * b];
      maxUnsigned[b] = slots[2 * b + 1];
    }
    return { maxSigned, maxUnsigned };
  }

  /**
   * Quantizes into `data`, clamping to [qMin, qMax], as linearQuantize does; returns the sums of
   * squared values and of squared errors (in float32 per element: they only feed a report).
   */
  quantize(
    params: HalfBlockParameters,
    qMin: number,
    qMax: number,
    data: Int8Array | Uint8Array,
  ): { signal: number; noise: number } {
    const { blocks, runLength } = this.runs;
    const floats = new Float32Array(this.buffer, this.params, 4 * blocks);
    for (let b = 0; b < blocks; b++) {
      floats[4 * b] = params.scale[b];
      floats[4 * b + 1] = params.zeroPoint[b];
      floats[4 * b + 2] = params.offset[b];
    }
    const { exports } = this;
    exports.signal.value = 0;
    exports.noise.value = 0;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
    const quantized = new Uint8Array(this.buffer, this.dst, this.chunkRuns * runLength);
    this.forEachChunk((first, runs) => {
      exports.quantize(
        0,
        this.dst,
        runs,
        runLength,
        this.runBlocks + 4 * first,
        this.params,
        qMin,
        qMax,
      );
      bytes.set(quantized.subarray(0, runs * runLength), first * runLength);
    });
    return { signal: exports.signal.value as number, noise: exports.noise.value as number };
  }
}
