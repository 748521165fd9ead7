/**
 * Matrix products and depthwise convolutions on the SIMD heap, shared out by a SimdTeam.
 * C[rows × cols] = start + A · B, clamped to [lo, hi], where A is packed in panels of 4 rows
 * (weights once when loaded, activations per call) and B comes as packed panels of 8 columns,
 * is read in place (a row-major matrix: 8 columns are two vector loads), or is packed chunk by
 * chunk from a transposed matrix or from a convolution's input windows (so im2col never exists
 * whole: each thread packs the panels it multiplies, while they are in its cache). A chunk is
 * a group of column panels against a group of row panels.
 */
import type { SimdHeap } from "./heap.js";
import { JOBS, MAX_CHUNKS, type JobParams, type SimdTeam } from "./team.js";

/** Rows per A panel and columns per B panel (the kernel's tile). */
export const PANEL_ROWS = 4;
export const PANEL_COLS = 8;

/** What a tile starts from (gemm.wat's modes). */
export const enum Start {
  Zero = 0,
  FromC = 1,
  RowBias = 2,
  ColumnBias = 3,
}

/** Where B comes from (all offsets in bytes). */
export type PanelSource =
  /** Panels already packed (weights), ceil(cols / 8) of k · 8 floats. */
  | { kind: "packed"; at: number }
  /**
   * Element (p, j) at at + p·rowStride + j·colStride: read in place when its rows are
   * contiguous and near each other (see readsInPlace), packed per chunk otherwise.
   */
  | { kind: "strided"; at: number; rowStride: number; colStride: number }
  /** Element (p, j) at at + origins[j] + taps[p] (i32 tables in the heap). */
  | { kind: "patches"; at: number; origins: number; taps: number };

export interface GemmJob {
  /** Packed A: ceil(rows / 4) panels of k · 4 floats. */
  a: number;
  rows: number;
  k: number;
  cols: number;
  b: PanelSource;
  /** C's first element and row stride, in bytes. */
  c: number;
  ldc: number;
  /**
   * C stored transposed: element (i, j) at c + j·ldc + 4·i (ldc then separates columns). Tiles
   * start from zero or a bias, not from C.
   */
  transposed?: boolean;
  start: Start;
  /** The bias (floats) for Start.RowBias / ColumnBias. */
  bias?: number;
  /**
   * A residual added to every element before the clamp (a residual connection's other
   * operand), laid out as C: element (i, j) at residual + (its offset from c).
   */
  residual?: number;
  lo?: number;
  hi?: number;
}

const GEMM_JOB = 1;
const DEPTHWISE_JOB = 2;
const SOURCE_KINDS = { packed: 0, strided: 1, patches: 2 } as const;

/** Bytes of packed B a chunk aims at: comfortably inside a core's L2 cache. */
const CHUNK_PANEL_BYTES = 96 * 1024;
/**
 * What a chunk's B may grow to when A is the larger operand (a deep product's weights, which
 * every column chunk reads again from memory): most of a core's L2 (2 MB here).
 */
const WIDE_CHUNK_BYTES = 1024 * 1024;
/** Chunks per thread a job aims at, so threads finishing early take more. */
const CHUNKS_PER_THREAD = 4;
/**
 * The farthest apart (bytes) rows of a strided B may be for the kernel to read them in place:
 * past a page, each depth step of a tile touches another page (a 1 × 1 convolution's input
 * channels on a large plane), and packing the chunk's panels first is faster (mobilenet_v2 on
 * two threads: up to 3.5 % per image).
 */
const IN_PLACE_MAX_ROW_BYTES = 4096;

/** Whether B is read where it is rather than packed per chunk. */
function readsInPlace(source: PanelSource): boolean {
  if (source.kind === "packed") return true;
  return (
    source.kind === "strided" &&
    source.colStride === 4 &&
    source.rowStride <= IN_PLACE_MAX_ROW_BYTES
  );
}

/** Bytes of a thread's scratch past its packed panels: one partial tile. */
const TILE_BYTES = 128;

// GEMM_JOB parameter words.
const G = {
  a: 0,
  k: 1,
  rows: 2,
  cols: 3,
  c: 4,
  ldc: 5,
  start: 6,
  bias: 7,
  lo: 8,
  hi: 9,
  source: 10,
  b: 11,
  rowStride: 12,
  colStride: 13,
  panelsPerChunk: 14,
  rowPanelsPerChunk: 15,
  columnChunks: 16,
  scratch: 17,
  scratchStride: 18,
  transposed: 19,
  hasResidual: 20,
  residual: 21,
  inPlace: 22,
} as const;

/** Bytes of packed A for `rows` × `k`. */
export function packedABytes(rows: number, k: number): number {
  return Math.ceil(rows / PANEL_ROWS) * PANEL_ROWS * k * 4;
}

/** Bytes of packed B for `k` × `cols`. */
export function packedBBytes(k: number, cols: number): number {
  return Math.ceil(cols / PANEL_COLS) * PANEL_COLS * k * 4;
}

/** Scratch the team's threads share, grown as jobs need it. */
const scratchOf = new WeakMap<SimdTeam, { at: number; bytes: number }>();

function teamScratch(team: SimdTeam, bytesPerThread: number): number {
  const have = scratchOf.get(team);
  if (have && have.bytes >= bytesPerThread) return have.at;
  if (have) team.heap.release(have.at);
  const bytes = Math.max(bytesPerThread, (have?.bytes ?? 0) * 2);
  const at = team.heap.allocate(bytes * team.threads);
  scratchOf.set(team, { at, bytes });
  return at;
}

/** Runs one product on the team. */
export function runGemm(team: SimdTeam, job: GemmJob): void {
  const { rows, k, cols } = job;
  if (rows === 0 || cols === 0) return;
  if (k === 0) throw new RangeError("a product over k = 0 has no kernel");
  if (job.transposed && job.start === Start.FromC) {
    throw new RangeError("a product stored transposed cannot start from C");
  }
  const columnPanels = Math.ceil(cols / PANEL_COLS);
  const rowPanels = Math.ceil(rows / PANEL_ROWS);
  const panelBytes = k * PANEL_COLS * 4;
  // One thread takes the whole product in one chunk (as far as B's cache allows); threads
  // share it out in several each. More column chunks read A again, more row chunks B: the
  // smaller operand is the one read again.
  const aim = team.threads === 1 ? 1 : team.threads * CHUNKS_PER_THREAD;
  const aBytes = rowPanels * PANEL_ROWS * k * 4;
  const aLarger = aBytes > columnPanels * panelBytes;
  const budget = aLarger ? WIDE_CHUNK_BYTES : CHUNK_PANEL_BYTES;
  let panelsPerChunk = Math.max(1, Math.min(columnPanels, Math.floor(budget / panelBytes)));
  if (!aLarger) panelsPerChunk = Math.min(panelsPerChunk, Math.ceil(columnPanels / aim));
  let columnChunks = Math.ceil(columnPanels / panelsPerChunk);
  // Each row chunk packs its own copy of B, unless B is read in place (packed panels, or rows
  // near each other): then rows split only as far as the threads need.
  const source = job.b;
  const inPlace = readsInPlace(source);
  const rowAim = aLarger && !inPlace ? team.threads : aim;
  const rowChunks = Math.min(rowPanels, Math.max(1, Math.ceil(rowAim / columnChunks)));
  const rowPanelsPerChunk = Math.ceil(rowPanels / rowChunks);
  const chunkRows = Math.ceil(rowPanels / rowPanelsPerChunk);
  if (columnChunks * chunkRows > MAX_CHUNKS) {
    panelsPerChunk = Math.ceil(columnPanels / Math.floor(MAX_CHUNKS / chunkRows));
    columnChunks = Math.ceil(columnPanels / panelsPerChunk);
  }
  const { ints, floats } = team.params;
  ints[G.a] = job.a;
  ints[G.k] = k;
  ints[G.rows] = rows;
  ints[G.cols] = cols;
  ints[G.c] = job.c;
  ints[G.ldc] = job.ldc;
  ints[G.start] = job.start;
  ints[G.transposed] = job.transposed ? 1 : 0;
  ints[G.bias] = job.bias ?? 0;
  ints[G.hasResidual] = job.residual === undefined ? 0 : 1;
  ints[G.residual] = job.residual === undefined ? 0 : job.residual - job.c;
  floats[G.lo] = job.lo ?? -Infinity;
  floats[G.hi] = job.hi ?? Infinity;
  ints[G.source] = SOURCE_KINDS[source.kind];
  ints[G.b] = source.at;
  ints[G.rowStride] =
    source.kind === "strided" ? source.rowStride : source.kind === "patches" ? source.origins : 0;
  ints[G.colStride] =
    source.kind === "strided" ? source.colStride : source.kind === "patches" ? source.taps : 0;
  ints[G.inPlace] = inPlace ? 1 : 0;
  ints[G.panelsPerChunk] = panelsPerChunk;
  ints[G.rowPanelsPerChunk] = rowPanelsPerChunk;
  ints[G.columnChunks] = columnChunks;
  const stride = (inPlace ? 0 : panelsPerChunk * panelBytes) + TILE_BYTES;
  ints[G.scratch] = teamScratch(team, stride);
  ints[G.scratchStride] = stride;
  team.run(GEMM_JOB, columnChunks * chunkRows);
}

JOBS[GEMM_JOB] = (heap: SimdHeap, { ints, floats }: JobParams, chunk: number, thread: number) => {
  const kernels = heap.kernels;
  const k = ints[G.k];
  const columnChunks = ints[G.columnChunks];
  const columnChunk = chunk % columnChunks;
  const rowChunk = (chunk - columnChunk) / columnChunks;
  const col0 = columnChunk * ints[G.panelsPerChunk] * PANEL_COLS;
  const cols = Math.min(ints[G.panelsPerChunk] * PANEL_COLS, ints[G.cols] - col0);
  const row0 = rowChunk * ints[G.rowPanelsPerChunk] * PANEL_ROWS;
  const rows = Math.min(ints[G.rowPanelsPerChunk] * PANEL_ROWS, ints[G.rows] - row0);
  const stride = ints[G.scratchStride];
  const scratch = ints[G.scratch] + thread * stride;
  const tile = scratch + stride - TILE_BYTES;
  // B packed in panels (k·32 bytes each, 32 bytes per depth), or a row-major matrix in place.
  let [b, step, panel] = [scratch, PANEL_COLS * 4, k * PANEL_COLS * 4];
  switch (ints[G.source]) {
    case SOURCE_KINDS.packed:
      b = ints[G.b] + (col0 / PANEL_COLS) * panel;
      break;
    case SOURCE_KINDS.strided:
      if (ints[G.inPlace]) {
        [b, step, panel] = [ints[G.b] + col0 * 4, ints[G.rowStride], PANEL_COLS * 4];
        break;
      }
      kernels.packB(ints[G.b], ints[G.rowStride], ints[G.colStride], k, col0, cols, scratch);
      break;
    default:
      kernels.packPatches(ints[G.b], ints[G.rowStride], ints[G.colStride], k, col0, cols, scratch);
  }
  const transposed = ints[G.transposed];
  kernels.epilogue(
    ints[G.start],
    ints[G.bias],
    floats[G.lo],
    floats[G.hi],
    transposed,
    ints[G.hasResidual],
    ints[G.residual],
  );
  const ldc = ints[G.ldc];
  kernels.gemm(
    ints[G.a] + (row0 / PANEL_ROWS) * k * PANEL_ROWS * 4,
    b,
    step,
    panel,
    k,
    rows,
    cols,
    ints[G.c] + (transposed ? col0 * ldc + row0 * 4 : row0 * ldc + col0 * 4),
    ldc,
    row0,
    col0,
    tile,
  );
};

/** A depthwise convolution of `planes` planes (one filter each), in the heap. */
export interface DepthwiseJob {
  /** Input planes of h × w floats, and their padding. */
  src: number;
  planes: number;
  /** Filters per channel; plane i uses channel i % channels. */
  channels: number;
  h: number;
  w: number;
  pads: readonly [number, number, number, number];
  /** Filters, kh · kw floats per channel. */
  weights: number;
  kernel: readonly [number, number];
  strides: readonly [number, number];
  dilations: readonly [number, number];
  oh: number;
  ow: number;
  dst: number;
  /** A bias per channel (floats), if any. */
  bias?: number;
  lo?: number;
  hi?: number;
}

// DEPTHWISE_JOB parameter words.
const D = {
  src: 0,
  planes: 1,
  channels: 2,
  h: 3,
  w: 4,
  top: 5,
  bottom: 6,
  left: 7,
  right: 8,
  weights: 9,
  kh: 10,
  kw: 11,
  sh: 12,
  sw: 13,
  dh: 14,
  dw: 15,
  oh: 16,
  ow: 17,
  dst: 18,
  bias: 19,
  lo: 20,
  hi: 21,
  planesPerChunk: 22,
  scratch: 23,
  scratchStride: 24,
} as const;

/** Runs a depthwise convolution on the team: each thread pads its planes into its scratch. */
export function runDepthwise(team: SimdTeam, job: DepthwiseJob): void {
  const [top, bottom, left, right] = job.pads;
  const padded = (job.h + top + bottom) * (job.w + left + right) * 4;
  const planesPerChunk = Math.max(1, Math.ceil(job.planes / (team.threads * CHUNKS_PER_THREAD)));
  const { ints, floats } = team.params;
  ints[D.src] = job.src;
  ints[D.planes] = job.planes;
  ints[D.channels] = job.channels;
  ints[D.h] = job.h;
  ints[D.w] = job.w;
  ints[D.top] = top;
  ints[D.bottom] = bottom;
  ints[D.left] = left;
  ints[D.right] = right;
  ints[D.weights] = job.weights;
  [ints[D.kh], ints[D.kw]] = job.kernel;
  [ints[D.sh], ints[D.sw]] = job.strides;
  [ints[D.dh], ints[D.dw]] = job.dilations;
  ints[D.oh] = job.oh;
  ints[D.ow] = job.ow;
  ints[D.dst] = job.dst;
  ints[D.bias] = job.bias ?? 0;
  floats[D.lo] = job.lo ?? -Infinity;
  floats[D.hi] = job.hi ?? Infinity;
  ints[D.planesPerChunk] = planesPerChunk;
  // Room for the kernel's reads past a row's end (a vector, two at stride 2).
  const stride = padded + 64;
  ints[D.scratch] = teamScratch(team, stride);
  ints[D.scratchStride] = stride;
  team.run(DEPTHWISE_JOB, Math.ceil(job.planes / planesPerChunk));
}

JOBS[DEPTHWISE_JOB] = (heap: SimdHeap, { ints, floats }: JobParams, chunk: number, thread) => {
  const first = chunk * ints[D.planesPerChunk];
  heap.kernels.depthwisePlanes(
    ints[D.src],
    first,
    Math.min(ints[D.planes], first + ints[D.planesPerChunk]),
    ints[D.channels],
    ints[D.h],
    ints[D.w],
    ints[D.top],
    ints[D.bottom],
    ints[D.left],
    ints[D.right],
    ints[D.weights],
    ints[D.kh],
    ints[D.kw],
    ints[D.sh],
    ints[D.sw],
    ints[D.dh],
    ints[D.dw],
    ints[D.oh],
    ints[D.ow],
    ints[D.dst],
    ints[D.bias],
    floats[D.lo],
    floats[D.hi],
    ints[D.scratch] + thread * ints[D.scratchStride],
  );
};

/**
 * A 3 × 3 convolution at stride 1 by Winograd's F(2×2, 3×3): per 2 × 2 block of outputs (a
 * tile), 16 products of transformed 4 × 4 inputs with transformed filters instead of 36. Each
 * chunk (8·k tiles) transforms its tiles' inputs into its thread's scratch as B panels, runs
 * the 16 products there, and transforms their sums into the outputs.
 */
export interface WinogradJob {
  /** Padded input planes (rows of wp floats, room for every tile's 4 × 4 block). */
  src: number;
  channels: number;
  wp: number;
  /** Bytes between input planes. */
  plane: number;
  /** Output channels, rows and columns; tiles per row (ceil(ow / 2)) and in all. */
  rows: number;
  oh: number;
  ow: number;
  tileColumns: number;
  tiles: number;
  /** The 16 transformed filters, each packed as A (rows × channels): `filterBytes` apart. */
  filters: number;
  filterBytes: number;
  dst: number;
  bias?: number;
  lo?: number;
  hi?: number;
}

const WINOGRAD_JOB = 3;
const PRODUCTS = 16;

// WINOGRAD_JOB parameter words.
const W = {
  src: 0,
  channels: 1,
  wp: 2,
  plane: 3,
  rows: 4,
  oh: 5,
  ow: 6,
  tileColumns: 7,
  tiles: 8,
  filters: 9,
  filterBytes: 10,
  dst: 11,
  bias: 12,
  lo: 13,
  hi: 14,
  panelsPerChunk: 15,
  scratch: 16,
  scratchStride: 17,
  chunks: 18,
} as const;

/** Bytes of a chunk's transformed inputs (V) and products (M), per panel of 8 tiles. */
function winogradPanelBytes(channels: number, rows: number): { v: number; m: number } {
  return { v: PRODUCTS * channels * PANEL_COLS * 4, m: PRODUCTS * rows * PANEL_COLS * 4 };
}

export function runWinograd(team: SimdTeam, job: WinogradJob): void {
  const panels = Math.ceil(job.tiles / PANEL_COLS);
  const perPanel = winogradPanelBytes(job.channels, job.rows);
  // Each chunk streams all 16 transformed filters through the cache: fewer, wider chunks
  // than products have (two per thread), as wide as a scratch of about 768 KiB allows, and
  // as many per thread, of sizes within a panel of each other, so no thread finishes last
  // by a whole chunk.
  const widest = Math.max(1, Math.floor((8 * CHUNK_PANEL_BYTES) / (perPanel.v + perPanel.m)));
  const fewest = Math.max(Math.ceil(panels / widest), team.threads * 2);
  const chunks = Math.min(panels, MAX_CHUNKS, Math.ceil(fewest / team.threads) * team.threads);
  const panelsPerChunk = Math.ceil(panels / chunks);
  const { ints, floats } = team.params;
  ints[W.src] = job.src;
  ints[W.channels] = job.channels;
  ints[W.wp] = job.wp;
  ints[W.plane] = job.plane;
  ints[W.rows] = job.rows;
  ints[W.oh] = job.oh;
  ints[W.ow] = job.ow;
  ints[W.tileColumns] = job.tileColumns;
  ints[W.tiles] = job.tiles;
  ints[W.filters] = job.filters;
  ints[W.filterBytes] = job.filterBytes;
  ints[W.dst] = job.dst;
  ints[W.bias] = job.bias ?? 0;
  floats[W.lo] = job.lo ?? -Infinity;
  floats[W.hi] = job.hi ?? Infinity;
  ints[W.panelsPerChunk] = panelsPerChunk;
  ints[W.chunks] = chunks;
  const stride = panelsPerChunk * (perPanel.v + perPanel.m) + TILE_BYTES;
  ints[W.scratch] = teamScratch(team, stride);
  ints[W.scratchStride] = stride;
  team.run(WINOGRAD_JOB, chunks);
}

JOBS[WINOGRAD_JOB] = (heap: SimdHeap, { ints, floats }: JobParams, chunk: number, thread) => {
  const kernels = heap.kernels;
  const panelsPerChunk = ints[W.panelsPerChunk];
  const channels = ints[W.channels];
  const rows = ints[W.rows];
  // Chunk c takes panels [⌊c·panels / chunks⌋, ⌊(c + 1)·panels / chunks⌋).
  const panels = Math.ceil(ints[W.tiles] / PANEL_COLS);
  const [first, last] = [chunk, chunk + 1].map((c) => Math.floor((c * panels) / ints[W.chunks]));
  const t0 = first * PANEL_COLS;
  const count = Math.min(last * PANEL_COLS, ints[W.tiles]) - t0;
  const perPanel = winogradPanelBytes(channels, rows);
  const stride = ints[W.scratchStride];
  const v = ints[W.scratch] + thread * stride;
  const m = v + panelsPerChunk * perPanel.v;
  const tile = v + stride - TILE_BYTES;
  // Between products: in V, a chunk's panels of one product; in M, one product's rows.
  const vProduct = panelsPerChunk * channels * PANEL_COLS * 4;
  const ldm = panelsPerChunk * PANEL_COLS * 4;
  const mProduct = rows * ldm;
  const tw = ints[W.tileColumns];
  kernels.winogradInput(
    ints[W.src],
    channels,
    ints[W.plane],
    ints[W.wp],
    tw,
    t0,
    count,
    v,
    vProduct,
  );
  kernels.epilogue(Start.Zero, 0, -Infinity, Infinity, 0, 0, 0);
  for (let product = 0; product < PRODUCTS; product++) {
    kernels.gemm(
      ints[W.filters] + product * ints[W.filterBytes],
      v + product * vProduct,
      PANEL_COLS * 4,
      channels * PANEL_COLS * 4,
      channels,
      rows,
      count,
      m + product * mProduct,
      ldm,
      0,
      0,
      tile,
    );
  }
  kernels.winogradOutput(
    m,
    mProduct,
    ldm,
    rows,
    t0,
    count,
    tw,
    ints[W.dst],
    ints[W.oh] * ints[W.ow] * 4,
    ints[W.oh],
    ints[W.ow],
    ints[W.bias],
    floats[W.lo],
    floats[W.hi],
  );
};

/** Row-wise kernels run as a job over chunks of rows. */
export const enum RowKernel {
  Softmax = 0,
  LayerNorm = 1,
  Gelu = 2,
  /** One float per row: its sum, or its mean. */
  Sum = 3,
  Mean = 4,
}

/** `rows` rows of n floats at src to dst (n a multiple of 4, but for Sum and Mean). */
export interface RowsJob {
  kernel: RowKernel;
  src: number;
  dst: number;
  rows: number;
  n: number;
  /** Layer norm: gamma and beta per element of a row (0: none) and epsilon. */
  gamma?: number;
  beta?: number;
  epsilon?: number;
}

const ROWS_JOB = 4;
/** Floats a rows chunk aims at: enough to outweigh claiming it. */
const ROWS_CHUNK_FLOATS = 8192;

// ROWS_JOB parameter words.
const R = {
  kernel: 0,
  src: 1,
  dst: 2,
  rows: 3,
  n: 4,
  gamma: 5,
  beta: 6,
  epsilon: 7,
  per: 8,
} as const;

export function runRows(team: SimdTeam, job: RowsJob): void {
  const per = Math.max(
    1,
    Math.ceil(job.rows / MAX_CHUNKS),
    Math.min(
      Math.ceil(job.rows / (team.threads * CHUNKS_PER_THREAD)),
      Math.ceil(ROWS_CHUNK_FLOATS / job.n),
    ),
  );
  const { ints, floats } = team.params;
  ints[R.kernel] = job.kernel;
  ints[R.src] = job.src;
  ints[R.dst] = job.dst;
  ints[R.rows] = job.rows;
  ints[R.n] = job.n;
  ints[R.gamma] = job.gamma ?? 0;
  ints[R.beta] = job.beta ?? 0;
  floats[R.epsilon] = job.epsilon ?? 0;
  ints[R.per] = per;
  team.run(ROWS_JOB, Math.ceil(job.rows / per));
}

JOBS[ROWS_JOB] = (heap: SimdHeap, { ints, floats }: JobParams, chunk: number) => {
  const n = ints[R.n];
  const first = chunk * ints[R.per];
  const rows = Math.min(ints[R.per], ints[R.rows] - first);
  const kernel = ints[R.kernel];
  const src = ints[R.src] + first * n * 4;
  const reduces = kernel === RowKernel.Sum || kernel === RowKernel.Mean;
  const dst = ints[R.dst] + first * (reduces ? 1 : n) * 4;
  const kernels = heap.elementwise;
  switch (kernel) {
    case RowKernel.Softmax:
      kernels.softmaxRows(src, dst, rows, n);
      break;
    case RowKernel.LayerNorm:
      kernels.layerNormRows(src, dst, rows, n, ints[R.gamma], ints[R.beta], floats[R.epsilon]);
      break;
    case RowKernel.Sum:
    case RowKernel.Mean:
      kernels.rowSums(src, dst, rows, n, kernel === RowKernel.Mean ? 1 : 0);
      break;
    default:
      kernels.gelu(src, dst, rows * n);
  }
};

/** Max pooling of `planes` planes h × w at src (the same stride on both axes), in the heap. */
export interface MaxPoolJob {
  src: number;
  planes: number;
  h: number;
  w: number;
  /** [top, bottom, left, right]: what the windows reach past the plane (read as −∞). */
  pads: readonly [number, number, number, number];
  kernel: readonly [number, number];
  stride: number;
  oh: number;
  ow: number;
  dst: number;
}

const MAX_POOL_JOB = 5;

// MAX_POOL_JOB parameter words.
const P = {
  src: 0,
  planes: 1,
  h: 2,
  w: 3,
  top: 4,
  bottom: 5,
  left: 6,
  right: 7,
  kh: 8,
  kw: 9,
  stride: 10,
  oh: 11,
  ow: 12,
  dst: 13,
  planesPerChunk: 14,
  scratch: 15,
  scratchStride: 16,
} as const;

/** Runs max pooling on the team: each thread frames its planes with −∞ in its scratch. */
export function runMaxPool(team: SimdTeam, job: MaxPoolJob): void {
  const [top, bottom, left, right] = job.pads;
  const planesPerChunk = Math.max(1, Math.ceil(job.planes / (team.threads * CHUNKS_PER_THREAD)));
  const { ints } = team.params;
  ints[P.src] = job.src;
  ints[P.planes] = job.planes;
  ints[P.h] = job.h;
  ints[P.w] = job.w;
  [ints[P.top], ints[P.bottom], ints[P.left], ints[P.right]] = [top, bottom, left, right];
  [ints[P.kh], ints[P.kw]] = job.kernel;
  ints[P.stride] = job.stride;
  ints[P.oh] = job.oh;
  ints[P.ow] = job.ow;
  ints[P.dst] = job.dst;
  ints[P.planesPerChunk] = planesPerChunk;
  // Room for the kernel's reads past a row's end (two vectors at stride 2).
  const stride = (job.h + top + bottom) * (job.w + left + right) * 4 + 64;
  ints[P.scratch] = teamScratch(team, stride);
  ints[P.scratchStride] = stride;
  team.run(MAX_POOL_JOB, Math.ceil(job.planes / planesPerChunk));
}

JOBS[MAX_POOL_JOB] = (heap: SimdHeap, { ints }: JobParams, chunk: number, thread: number) => {
  const kernels = heap.kernels;
  const [h, w, top, bottom, left, right] = [P.h, P.w, P.top, P.bottom, P.left, P.right].map(
    (i) => ints[i],
  );
  const scratch = ints[P.scratch] + thread * ints[P.scratchStride];
  const first = chunk * ints[P.planesPerChunk];
  const last = Math.min(ints[P.planes], first + ints[P.planesPerChunk]);
  const [oh, ow] = [ints[P.oh], ints[P.ow]];
  for (let plane = first; plane < last; plane++) {
    const src = ints[P.src] + plane * h * w * 4;
    kernels.padWith(src, h, w, scratch, top, bottom, left, right, -Infinity);
    const dst = ints[P.dst] + plane * oh * ow * 4;
    kernels.maxPoolPadded(
      scratch,
      w + left + right,
      ints[P.kh],
      ints[P.kw],
      ints[P.stride],
      oh,
      ow,
      dst,
    );
  }
};
