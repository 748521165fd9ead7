/**
 * The memory of the SIMD matrix kernels (wasm/gemm.wat): one shared WebAssembly memory per
 * process, seen by every thread through its own instance of the module, so threads split a
 * product without copying anything. Blocks are handed out by size and come back to per-size
 * free lists: a program run again with the same shapes takes the blocks it gave back, and the
 * memory stops growing after the first run. Growing a shared memory leaves earlier views
 * valid, which is why the kernels need shared memory (SharedArrayBuffer, cross-origin
 * isolated pages in browsers) and are off where it is missing.
 */
import { ELEMENTWISE_FUSED_WASM } from "../wasm/elementwise-fused-module.js";
import { ELEMENTWISE_WASM } from "../wasm/elementwise-module.js";
import { GEMM_FUSED_WASM } from "../wasm/gemm-fused-module.js";
import { GEMM_WASM } from "../wasm/gemm-module.js";
import { hasRelaxedSimd, instantiateKernel } from "../wasm/instantiate.js";

/** The module's exports (see gemm.wat for each). */
export interface GemmKernels {
  epilogue(
    mode: number,
    bias: number,
    lo: number,
    hi: number,
    transposed: number,
    hasResidual: number,
    residual: number,
  ): void;
  gemm(
    a: number,
    b: number,
    bStep: number,
    bPanel: number,
    k: number,
    rows: number,
    cols: number,
    c: number,
    ldc: number,
    row0: number,
    col0: number,
    scratch: number,
  ): void;
  packA(src: number, rs: number, cs: number, rows: number, k: number, dst: number): void;
  packB(
    src: number,
    rs: number,
    cs: number,
    k: number,
    col: number,
    cols: number,
    dst: number,
  ): void;
  packPatches(
    src: number,
    origins: number,
    taps: number,
    k: number,
    col: number,
    cols: number,
    dst: number,
  ): void;
  packPatchesA(
    src: number,
    origins: number,
    taps: number,
    k: number,
    rows: number,
    dst: number,
  ): void;
  pad(
    src: number,
    planes: number,
    h: number,
    w: number,
    dst: number,
    top: number,
    bottom: number,
    left: number,
    right: number,
  ): void;
  depthwisePlanes(
    src: number,
    first: number,
    last: number,
    channels: number,
    h: number,
    w: number,
    top: number,
    bottom: number,
    left: number,
    right: number,
    weights: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    dh: number,
    dw: number,
    oh: number,
    ow: number,
    dst: number,
    bias: number,
    lo: number,
    hi: number,
    scratch: number,
  ): void;
  winogradInput(
    src: number,
    channels: number,
    plane: number,
    wp: number,
    tw: number,
    t0: number,
    count: number,
    dst: number,
    xi: number,
  ): void;
  winogradOutput(
    m: number,
    xi: number,
    ldm: number,
    rows: number,
    t0: number,
    count: number,
    tw: number,
    dst: number,
    plane: number,
    oh: number,
    ow: number,
    bias: number,
    lo: number,
    hi: number,
  ): void;
  padWith(
    src: number,
    h: number,
    w: number,
    dst: number,
    top: number,
    bottom: number,
    left: number,
    right: number,
    value: number,
  ): void;
  maxPoolPadded(
    src: number,
    wp: number,
    kh: number,
    kw: number,
    stride: number,
    oh: number,
    ow: number,
    dst: number,
  ): void;
}

/** elementwise.wat's exports: whole vectors from `count` floats at src to dst. */
export interface ElementwiseKernels {
  clamp(src: number, dst: number, count: number, lo: number, hi: number): void;
  relu(src: number, dst: number, count: number): void;
  arithmetic(
    x: number,
    xLength: number,
    y: number,
    yLength: number,
    dst: number,
    count: number,
    op: number,
  ): void;
  quantize(
    src: number,
    dst: number,
    count: number,
    scale: number,
    zeroPoint: number,
    min: number,
    max: number,
  ): void;
  dequantize(src: number, dst: number, count: number, scale: number, zeroPoint: number): void;
  gelu(src: number, dst: number, count: number): void;
  softmaxRows(src: number, dst: number, rows: number, n: number): void;
  rowSums(src: number, dst: number, rows: number, n: number, mean: number): void;
  select(
    cond: number,
    condLength: number,
    a: number,
    aLength: number,
    b: number,
    bLength: number,
    dst: number,
    count: number,
  ): void;
  gatherRows(
    src: number,
    dst: number,
    inner: number,
    step: number,
    axes: number,
    rank: number,
    rows: number,
  ): void;
  layerNormRows(
    src: number,
    dst: number,
    rows: number,
    n: number,
    gamma: number,
    beta: number,
    epsilon: number,
  ): void;
}

const PAGE = 65536;
/** Wasm32's limit: 4 GiB. Only address space is reserved up front. */
const MAX_PAGES = 65536;
/** Blocks are multiples of this, so vectors and cache lines never straddle two blocks. */
const ALIGN = 64;
/** Past each block: kernels may read a vector or two beyond the last value they use. */
const SLACK = 64;

/** The heap cannot grow to what is asked (4 GiB at most, or what the host grants). */
export class HeapFullError extends Error {
  constructor(bytes: number) {
    super(`the SIMD heap cannot grow to ${bytes} bytes`);
  }
}

export class SimdHeap {
  private top: number;
  private readonly free = new Map<number, number[]>();
  private readonly sizes = new Map<number, number>();
  private readonly buffers = new WeakSet<object>();

  private constructor(
    readonly memory: WebAssembly.Memory,
    readonly kernels: GemmKernels,
    readonly elementwise: ElementwiseKernels,
    /** Names the heap to other threads (which attach to it and allocate nothing). */
    readonly id: number,
    /**
     * Whether the products and the row kernels (GELU, softmax, layer norm) use fused
     * multiply-adds (relaxed SIMD): every thread of a heap runs the same modules, so which
     * thread computes a value never changes its bits.
     */
    readonly fused: boolean,
  ) {
    this.top = ALIGN;
  }

  /**
   * A new heap, or undefined without WebAssembly SIMD or shared memory. Its products fuse
   * multiply-adds where the host has relaxed SIMD, unless `fused` is false.
   */
  static create(fused = hasRelaxedSimd()): SimdHeap | undefined {
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    } catch {
      return undefined;
    }
    return SimdHeap.attach(memory, Math.floor(Math.random() * 2 ** 31), fused);
  }

  /** Another thread's view of the heap with this memory (it allocates nothing). */
  static attach(memory: WebAssembly.Memory, id: number, fused: boolean): SimdHeap | undefined {
    const imports = { env: { memory } };
    const kernels = instantiateKernel<GemmKernels>(fused ? GEMM_FUSED_WASM : GEMM_WASM, imports);
    const elementwise = instantiateKernel<ElementwiseKernels>(
      fused ? ELEMENTWISE_FUSED_WASM : ELEMENTWISE_WASM,
      imports,
    );
    return kernels && elementwise && new SimdHeap(memory, kernels, elementwise, id, fused);
  }

  /**
   * Byte offset of a new block of at least `bytes` bytes (contents unspecified). Blocks kept
   * for good (`reuse` false: packed weights) come from fresh memory, so they never take the
   * blocks a program's values go back and forth in.
   */
  allocate(bytes: number, reuse = true): number {
    const size = Math.ceil(Math.max(bytes, 1) / ALIGN) * ALIGN + SLACK;
    const reused = reuse ? this.free.get(size)?.pop() : undefined;
    if (reused !== undefined) {
      this.sizes.set(reused, size);
      return reused;
    }
    const offset = this.top;
    const have = this.memory.buffer.byteLength;
    if (offset + size > have) {
      try {
        this.memory.grow(Math.ceil((offset + size - have) / PAGE));
      } catch {
        throw new HeapFullError(offset + size);
      }
    }
    this.top += size;
    this.sizes.set(offset, size);
    return offset;
  }

  /** Gives a block back. */
  release(offset: number): void {
    const size = this.sizes.get(offset);
    if (size === undefined) throw new Error(`heap offset ${offset} is not allocated`);
    this.sizes.delete(offset);
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(offset);
  }

  /** A float view of `length` values at byte `offset`. */
  floats(offset: number, length: number): Float32Array {
    const buffer = this.memory.buffer;
    this.buffers.add(buffer);
    return new Float32Array(buffer, offset, length);
  }

  /** An int32 view of `length` values at byte `offset`. */
  ints(offset: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, offset, length);
  }

  /** A new block holding `length` floats, as a view. */
  allocateFloats(length: number): Float32Array {
    return this.floats(this.allocate(length * 4), length);
  }

  /** Whether `array` lies in this heap (so kernels can read it where it is). */
  holds(array: Float32Array): boolean {
    return this.buffers.has(array.buffer);
  }

  /** Bytes the heap has taken from its memory (its high-water mark). */
  get used(): number {
    return this.top;
  }
}
