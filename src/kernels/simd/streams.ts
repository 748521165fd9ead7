/**
 * Kernels that stream through memory (elementwise arithmetic, padded copies, a product's A
 * packed) shared out by a SimdTeam in contiguous parts: each element is computed by the same
 * vector loop whichever thread runs its part, so results are the same with any number of
 * threads.
 */
import type { SimdHeap } from "./heap.js";
import { PANEL_ROWS } from "./gemm.js";
import { JOBS, type JobParams, type SimdTeam } from "./team.js";

/** Job numbers, apart from gemm.ts's. */
const ARITHMETIC_JOB = 16;
const PAD_JOB = 17;
const PACK_A_JOB = 18;

/** Floats a part aims at, at least: below, claiming it costs more than the copy. */
const PART_FLOATS = 16_384;
/** Parts per thread a job aims at, so threads finishing early take more. */
const PARTS_PER_THREAD = 2;

/** How many parts a job of `units` units of `floatsPerUnit` floats each is cut into. */
function partsOf(team: SimdTeam, units: number, floatsPerUnit: number): number {
  const byThreads = team.threads === 1 ? 1 : team.threads * PARTS_PER_THREAD;
  const bySize = Math.floor((units * floatsPerUnit) / PART_FLOATS);
  return Math.max(1, Math.min(units, byThreads, bySize));
}

/** x op y (elementwise.wat's arithmetic) to dst, then clamped to [lo, hi] when given. */
export interface ArithmeticJob {
  /** x at `x`, `xLength` floats repeating (count, 1, or a multiple of 4 dividing it); y too. */
  x: number;
  xLength: number;
  y: number;
  yLength: number;
  dst: number;
  count: number;
  /** 0 add, 1 sub, 2 mul, 3 div. */
  op: number;
  lo?: number;
  hi?: number;
}

// ARITHMETIC_JOB parameter words.
const A = {
  x: 0,
  xLength: 1,
  y: 2,
  yLength: 3,
  dst: 4,
  count: 5,
  op: 6,
  clamp: 7,
  lo: 8,
  hi: 9,
  per: 10,
} as const;

/** Runs elementwise arithmetic on the team, in parts of whole repeats of x and y. */
export function runArithmetic(team: SimdTeam, job: ArithmeticJob): void {
  const { count, xLength, yLength } = job;
  if (count === 0) return;
  // Parts start where both operands' repeats do (and on a vector, so none shares one).
  const repeat = [xLength, yLength]
    .filter((length) => length !== count && length !== 1)
    .reduce((a, b) => (a * b) / gcd(a, b), 4);
  const units = Math.floor(count / repeat);
  const parts = partsOf(team, units, repeat);
  const per = parts === 1 ? count : Math.ceil(units / parts) * repeat;
  const { ints, floats } = team.params;
  ints[A.x] = job.x;
  ints[A.xLength] = xLength;
  ints[A.y] = job.y;
  ints[A.yLength] = yLength;
  ints[A.dst] = job.dst;
  ints[A.count] = count;
  ints[A.op] = job.op;
  ints[A.clamp] = job.lo === undefined && job.hi === undefined ? 0 : 1;
  floats[A.lo] = job.lo ?? -Infinity;
  floats[A.hi] = job.hi ?? Infinity;
  ints[A.per] = per;
  team.run(ARITHMETIC_JOB, Math.ceil(count / per));
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

JOBS[ARITHMETIC_JOB] = (heap: SimdHeap, { ints, floats }: JobParams, part: number) => {
  const count = ints[A.count];
  const first = part * ints[A.per];
  const length = Math.min(ints[A.per], count - first);
  // A whole operand is read from the part's first element; a repeating one from its start.
  const [x, xLength] =
    ints[A.xLength] === count ? [ints[A.x] + first * 4, length] : [ints[A.x], ints[A.xLength]];
  const [y, yLength] =
    ints[A.yLength] === count ? [ints[A.y] + first * 4, length] : [ints[A.y], ints[A.yLength]];
  const dst = ints[A.dst] + first * 4;
  heap.elementwise.arithmetic(x, xLength, y, yLength, dst, length, ints[A.op]);
  if (ints[A.clamp]) heap.elementwise.clamp(dst, dst, length, floats[A.lo], floats[A.hi]);
};

/** `planes` planes of h × w floats at src, framed with zeros, to dst (gemm.wat's pad). */
export interface PadJob {
  src: number;
  planes: number;
  h: number;
  w: number;
  dst: number;
  pads: readonly [number, number, number, number];
}

// PAD_JOB parameter words.
const P = { src: 0, h: 1, w: 2, dst: 3, top: 4, bottom: 5, left: 6, right: 7, planes: 8, per: 9 };

/** Runs a padded copy on the team, by planes. */
export function runPad(team: SimdTeam, job: PadJob): void {
  const [top, bottom, left, right] = job.pads;
  const padded = (job.h + top + bottom) * (job.w + left + right);
  const parts = partsOf(team, job.planes, padded);
  const { ints } = team.params;
  ints[P.src] = job.src;
  ints[P.h] = job.h;
  ints[P.w] = job.w;
  ints[P.dst] = job.dst;
  [ints[P.top], ints[P.bottom], ints[P.left], ints[P.right]] = job.pads;
  ints[P.planes] = job.planes;
  ints[P.per] = Math.ceil(job.planes / parts);
  team.run(PAD_JOB, Math.ceil(job.planes / ints[P.per]));
}

JOBS[PAD_JOB] = (heap: SimdHeap, { ints }: JobParams, part: number) => {
  const [h, w, top, bottom, left, right] = [P.h, P.w, P.top, P.bottom, P.left, P.right].map(
    (i) => ints[i],
  );
  const first = part * ints[P.per];
  const planes = Math.min(ints[P.per], ints[P.planes] - first);
  const padded = (h + top + bottom) * (w + left + right);
  heap.kernels.pad(
    ints[P.src] + first * h * w * 4,
    planes,
    h,
    w,
    ints[P.dst] + first * padded * 4,
    top,
    bottom,
    left,
    right,
  );
};

/**
 * A matrix of `rows` × `k` (element (i, p) at src + i·rowStride + p·colStride) packed as a
 * product's A panels at dst (gemm.wat's packA: 4 rows per panel, the last padded with zeros).
 */
export interface PackAJob {
  src: number;
  rowStride: number;
  colStride: number;
  rows: number;
  k: number;
  dst: number;
}

// PACK_A_JOB parameter words.
const K = { src: 0, rowStride: 1, colStride: 2, rows: 3, k: 4, dst: 5, panelsPer: 6 };

/** Packs A on the team, by groups of whole panels. */
export function runPackA(team: SimdTeam, job: PackAJob): void {
  const panels = Math.ceil(job.rows / PANEL_ROWS);
  const parts = partsOf(team, panels, PANEL_ROWS * job.k);
  const { ints } = team.params;
  ints[K.src] = job.src;
  ints[K.rowStride] = job.rowStride;
  ints[K.colStride] = job.colStride;
  ints[K.rows] = job.rows;
  ints[K.k] = job.k;
  ints[K.dst] = job.dst;
  ints[K.panelsPer] = Math.ceil(panels / parts);
  team.run(PACK_A_JOB, Math.ceil(panels / ints[K.panelsPer]));
}

JOBS[PACK_A_JOB] = (heap: SimdHeap, { ints }: JobParams, part: number) => {
  const k = ints[K.k];
  const row0 = part * ints[K.panelsPer] * PANEL_ROWS;
  heap.kernels.packA(
    ints[K.src] + row0 * ints[K.rowStride],
    ints[K.rowStride],
    ints[K.colStride],
    Math.min(ints[K.panelsPer] * PANEL_ROWS, ints[K.rows] - row0),
    k,
    ints[K.dst] + row0 * k * 4,
  );
};
