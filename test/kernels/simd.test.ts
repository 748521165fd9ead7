/**
 * The SIMD matrix kernels against the plain JavaScript product (kernels/ops/matmul.ts): random
 * shapes with odd sizes, every start (zeros, C, a bias per row or column), clamps, and every
 * way B arrives (packed, strided either way, convolution windows); the same bits with threads.
 * Each runs with both modules: separate multiplies and adds, and fused multiply-adds (relaxed
 * SIMD, which the Node entry turns on).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { geluExact } from "../../src/kernels/ops/elementwise.js";
import { gemm } from "../../src/kernels/ops/matmul.js";
import {
  packedABytes,
  packedBBytes,
  runGemm,
  Start,
  type GemmJob,
} from "../../src/kernels/simd/gemm.js";
import { SimdHeap } from "../../src/kernels/simd/heap.js";
import { runArithmetic, runPad } from "../../src/kernels/simd/streams.js";
import "../../src/kernels/simd/task.js";
import { SimdTeam } from "../../src/kernels/simd/team.js";
import { WorkerPool } from "../../src/parallel/pool.js";

/** Heaps running each module; `heap` is the one the running test uses. */
const HEAPS = { "mul + add": SimdHeap.create(false), fused: SimdHeap.create(true) };
let heap = HEAPS["mul + add"]!;

/** Defines the test `name` once per module. */
function eachModule(name: string, body: () => void | Promise<void>) {
  for (const [module, each] of Object.entries(HEAPS)) {
    test(`${name} (${module})`, () => {
      heap = each!;
      return body();
    });
  }
}

function noise(length: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

/** A heap copy of `values`. */
function inHeap(values: Float32Array): Float32Array {
  const block = heap.allocateFloats(values.length);
  block.set(values);
  return block;
}

/** |got − want| within float rounding of sums of `k` products of values in [-1, 1). */
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, k: number, label: string) {
  assert.equal(got.length, want.length, label);
  const tolerance = 4e-7 * (k + 4);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tolerance)) {
      assert.fail(`${label}: element ${i} is ${got[i]}, want ${want[i]}`);
    }
  }
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [4, 8, 1],
  [3, 5, 7],
  [5, 9, 2],
  [9, 17, 33],
  [16, 64, 16],
  [13, 70, 129],
  [64, 25, 300],
  [37, 200, 5],
];

/** C = start + A·B clamped, computed the plain way. */
function reference(
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  start: Start,
  c0: Float32Array,
  bias: Float32Array,
  lo: number,
  hi: number,
): Float32Array {
  const c = new Float32Array(m * n);
  if (start === Start.FromC) c.set(c0);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      if (start === Start.RowBias) c[i * n + j] = bias[i];
      if (start === Start.ColumnBias) c[i * n + j] = bias[j];
    }
  }
  gemm(m, n, k, a, 0, false, b, 0, false, c, 0);
  return c.map((v) => (v < lo ? lo : v > hi ? hi : v));
}

function runAll(team: SimdTeam): Float32Array[] {
  const results: Float32Array[] = [];
  SHAPES.forEach(([m, n, k], index) => {
    const a = noise(m * k, 3 * index + 1);
    const b = noise(k * n, 3 * index + 2);
    const c0 = noise(m * n, 3 * index + 3);
    const bias = noise(Math.max(m, n), index + 99);
    const packedA = heap.allocate(packedABytes(m, k));
    heap.kernels.packA(inHeap(a).byteOffset, k * 4, 4, m, k, packedA);
    // B row-major, B stored transposed, and B packed ahead.
    const bRows = inHeap(b);
    const bt = new Float32Array(n * k);
    for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bt[j * k + p] = b[p * n + j];
    const bColumns = inHeap(bt);
    const packedB = heap.allocate(packedBBytes(k, n));
    heap.kernels.packB(bRows.byteOffset, n * 4, 4, k, 0, n, packedB);
    const sources: GemmJob["b"][] = [
      { kind: "strided", at: bRows.byteOffset, rowStride: n * 4, colStride: 4 },
      { kind: "strided", at: bColumns.byteOffset, rowStride: 4, colStride: k * 4 },
      { kind: "packed", at: packedB },
    ];
    const starts = [Start.Zero, Start.FromC, Start.RowBias, Start.ColumnBias];
    for (const [s, source] of sources.entries()) {
      for (const start of starts) {
        const [lo, hi] = start === Start.RowBias ? [-0.25, 0.5] : [-Infinity, Infinity];
        const c = inHeap(c0);
        runGemm(team, {
          a: packedA,
          rows: m,
          k,
          cols: n,
          b: source,
          c: c.byteOffset,
          ldc: n * 4,
          start,
          bias: inHeap(bias).byteOffset,
          lo,
          hi,
        });
        const want = reference(m, n, k, a, b, start, c0, bias, lo, hi);
        assertClose(c, want, k, `${m}×${n}×${k}, source ${s}, start ${start}`);
        results.push(Float32Array.from(c));
        if (start === Start.FromC) continue;
        // C stored transposed (n × m).
        const ct = heap.allocateFloats(m * n);
        runGemm(team, {
          a: packedA,
          rows: m,
          k,
          cols: n,
          b: source,
          c: ct.byteOffset,
          ldc: m * 4,
          transposed: true,
          start,
          bias: inHeap(bias).byteOffset,
          lo,
          hi,
        });
        const wantTransposed = want.map((_, at) => want[(at % m) * n + Math.floor(at / m)]);
        assertClose(
          ct,
          wantTransposed,
          k,
          `${m}×${n}×${k} transposed, source ${s}, start ${start}`,
        );
        results.push(Float32Array.from(ct));
      }
    }
  });
  return results;
}

test("the Node entry turns relaxed SIMD on, so products fuse multiply-adds by default", () => {
  assert.ok(HEAPS.fused);
  assert.equal(SimdHeap.create()?.fused, true);
});

eachModule(
  "the SIMD product matches the plain one on odd shapes, starts, clamps and layouts",
  () => {
    runAll(new SimdTeam(heap));
  },
);

eachModule("convolution windows packed as B and as A: strides, dilations and padding", () => {
  const team = new SimdTeam(heap);
  for (const [c, h, w, kh, kw, stride, dilation, pad] of [
    [3, 9, 11, 3, 3, 1, 1, 1],
    [2, 10, 7, 3, 2, 2, 1, 0],
    [4, 13, 13, 3, 3, 3, 2, 2],
    [1, 5, 40, 1, 5, 1, 1, 2],
    [3, 12, 40, 3, 3, 2, 1, 1],
  ]) {
    const [hp, wp] = [h + 2 * pad, w + 2 * pad];
    const oh = Math.floor((hp - (kh - 1) * dilation - 1) / stride) + 1;
    const ow = Math.floor((wp - (kw - 1) * dilation - 1) / stride) + 1;
    const x = noise(c * h * w, h);
    const padded = heap.allocate(c * hp * wp * 4);
    heap.kernels.pad(inHeap(x).byteOffset, c, h, w, padded, pad, pad, pad, pad);
    const origins = Int32Array.from({ length: oh * ow }, (_, j) => {
      const [oy, ox] = [Math.floor(j / ow), j % ow];
      return (oy * stride * wp + ox * stride) * 4;
    });
    const taps = Int32Array.from({ length: c * kh * kw }, (_, p) => {
      const [ci, ky, kx] = [Math.floor(p / (kh * kw)), Math.floor(p / kw) % kh, p % kw];
      return (ci * hp * wp + ky * dilation * wp + kx * dilation) * 4;
    });
    const tables = [origins, taps].map((t) => {
      const at = heap.allocate(t.length * 4);
      heap.ints(at, t.length).set(t);
      return at;
    });
    // The im2col matrix, the plain way, as the reference's B.
    const k = c * kh * kw;
    const n = oh * ow;
    const cols = new Float32Array(k * n);
    for (let p = 0; p < k; p++) {
      const [ci, ky, kx] = [Math.floor(p / (kh * kw)), Math.floor(p / kw) % kh, p % kw];
      for (let j = 0; j < n; j++) {
        const y = Math.floor(j / ow) * stride + ky * dilation - pad;
        const xx = (j % ow) * stride + kx * dilation - pad;
        cols[p * n + j] = y >= 0 && y < h && xx >= 0 && xx < w ? x[(ci * h + y) * w + xx] : 0;
      }
    }
    const m = 6;
    const weights = noise(m * k, 5);
    const a = heap.allocate(packedABytes(m, k));
    heap.kernels.packA(inHeap(weights).byteOffset, k * 4, 4, m, k, a);
    const out = heap.allocateFloats(m * n);
    runGemm(team, {
      a,
      rows: m,
      k,
      cols: n,
      b: { kind: "patches", at: padded, origins: tables[0], taps: tables[1] },
      c: out.byteOffset,
      ldc: n * 4,
      start: Start.Zero,
    });
    const want = new Float32Array(m * n);
    gemm(m, n, k, weights, 0, false, cols, 0, false, want, 0);
    assertClose(out, want, k, `conv ${[c, h, w, kh, kw, stride, dilation, pad]}`);
    // Transposed: the windows packed as A, the weights as B, C stored transposed.
    const windows = heap.allocate(packedABytes(n, k));
    heap.kernels.packPatchesA(padded, tables[0], tables[1], k, n, windows);
    const filters = heap.allocate(packedBBytes(k, m));
    heap.kernels.packB(inHeap(weights).byteOffset, 4, k * 4, k, 0, m, filters);
    const transposed = heap.allocateFloats(m * n);
    runGemm(team, {
      a: windows,
      rows: n,
      k,
      cols: m,
      b: { kind: "packed", at: filters },
      c: transposed.byteOffset,
      ldc: n * 4,
      transposed: true,
      start: Start.Zero,
    });
    assertClose(transposed, want, k, `conv ${[c, h, w, kh, kw, stride, dilation, pad]} transposed`);
  }
});

/**
 * Elementwise arithmetic (operands whole, single or repeating; clamped or not) and padded
 * copies, large enough to be shared out, against plain loops; their outputs.
 */
function runStreams(team: SimdTeam): Float32Array[] {
  const results: Float32Array[] = [];
  const repeat = 12;
  const count = repeat * 6001;
  const x = noise(count, 41);
  const operands: [Float32Array, Float32Array][] = [
    [x, noise(count, 42)],
    [x, noise(1, 43)],
    [x, noise(repeat, 44)],
    [noise(repeat, 45), x],
  ];
  for (const [index, [a, b]] of operands.entries()) {
    for (const op of [0, 1, 2, 3]) {
      const [lo, hi] = op === 2 ? [-0.125, 0.25] : [undefined, undefined];
      const out = heap.allocateFloats(count);
      runArithmetic(team, {
        x: inHeap(a).byteOffset,
        xLength: a.length,
        y: inHeap(b).byteOffset,
        yLength: b.length,
        dst: out.byteOffset,
        count,
        op,
        lo,
        hi,
      });
      for (let i = 0; i < count; i++) {
        const [u, v] = [a[i % a.length], b[i % b.length]];
        let want = Math.fround([u + v, u - v, u * v, u / v][op]);
        if (lo !== undefined && hi !== undefined) want = Math.min(Math.max(want, lo), hi);
        if (!Object.is(out[i], want)) assert.fail(`operands ${index}, op ${op}, element ${i}`);
      }
      results.push(Float32Array.from(out));
    }
  }
  const [planes, h, w] = [67, 31, 29];
  const [top, bottom, left, right] = [1, 2, 3, 0];
  const [hp, wp] = [h + top + bottom, w + left + right];
  const src = noise(planes * h * w, 46);
  const padded = heap.allocateFloats(planes * hp * wp);
  padded.fill(NaN);
  const pads = [top, bottom, left, right] as const;
  runPad(team, { src: inHeap(src).byteOffset, planes, h, w, dst: padded.byteOffset, pads });
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < hp; y++) {
      for (let x = 0; x < wp; x++) {
        const [sy, sx] = [y - top, x - left];
        const inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        const want = inside ? src[(p * h + sy) * w + sx] : 0;
        assert.equal(padded[(p * hp + y) * wp + x], want, `pad plane ${p}, (${y}, ${x})`);
      }
    }
  }
  results.push(Float32Array.from(padded));
  return results;
}

eachModule("streamed elementwise arithmetic and pads match plain loops", () => {
  runStreams(new SimdTeam(heap));
});

eachModule("threads give the same bits as the calling thread alone", async () => {
  const alone = [...runAll(new SimdTeam(heap)), ...runStreams(new SimdTeam(heap))];
  const pool = new WorkerPool(2);
  try {
    const team = new SimdTeam(heap, pool);
    team.start();
    // Workers join once their serve tasks have started.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const shared = [...runAll(team), ...runStreams(team)];
    assert.deepEqual(shared, alone);
  } finally {
    await pool.close();
  }
});

/** Blocks the calling thread for `ms` without letting its event loop turn. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test("a worker joins while the caller never yields, and rejoins after leaving its serve loop", async () => {
  const pool = new WorkerPool(1);
  try {
    const team = new SimdTeam(heap, pool);
    const count = 1 << 20;
    const [x, out] = [inHeap(noise(count, 51)), heap.allocateFloats(count)];
    const add = () =>
      runArithmetic(team, {
        x: x.byteOffset,
        xLength: count,
        y: x.byteOffset,
        yLength: count,
        dst: out.byteOffset,
        count,
        op: 0,
      });
    // Jobs until the worker takes part (or 3 s pass), without yielding.
    const joins = () => {
      const until = performance.now() + 3000;
      do add();
      while (team.joinedLastJob === 0 && performance.now() < until);
      return team.joinedLastJob;
    };
    // The pool's worker is still starting: its "ready" is never read before the jobs run.
    team.start();
    assert.equal(joins(), 1, "the worker serves once started");
    // Longer than a worker waits for a job before it leaves; its reply is not read meanwhile.
    blockFor(600);
    assert.equal(joins(), 1, "the worker is back at the jobs after it left");
    assert.deepEqual(
      out,
      x.map((v) => v + v),
    );
  } finally {
    await pool.close();
  }
});

test("the heap reuses freed blocks of the same size", () => {
  const first = heap.allocate(1000);
  heap.release(first);
  const high = heap.used;
  assert.equal(heap.allocate(1000), first);
  assert.equal(heap.used, high);
  assert.throws(() => heap.release(first + 4), /not allocated/);
});

test("GELU in float32 keeps within 3e-6 relative of the float64 reference, and is 0 where it is", () => {
  // Every 1/4096 over [−12, 12], an odd count: erf's polynomial, its tail, GELU's zeros.
  const count = 24 * 4096 + 3;
  const x = heap.allocateFloats(count);
  for (let i = 0; i < count; i++) x[i] = -12 + i / 4096;
  const out = heap.allocateFloats(count);
  heap.elementwise.gelu(x.byteOffset, out.byteOffset, count);
  const want = geluExact({ shape: [count], data: x }).data;
  for (let i = 0; i < count; i++) {
    // The reference's own erf is good to 1e-11, which the tail's tiny values feel.
    const bound = x[i] <= -6 * Math.SQRT2 ? 0 : 3e-6 * Math.abs(want[i]) + 1e-10;
    if (!(Math.abs(out[i] - want[i]) <= bound)) {
      assert.fail(`GELU(${x[i]}) is ${out[i]}, the reference ${want[i]}`);
    }
  }
  const special = heap.allocateFloats(4);
  special.set([NaN, Infinity, -Infinity, -0]);
  const got = heap.allocateFloats(4);
  heap.elementwise.gelu(special.byteOffset, got.byteOffset, 4);
  assert.deepEqual(Array.from(got), Array.from(geluExact({ shape: [4], data: special }).data));
});

test("A packs into the same panels from rows, from columns (transposed) and strided", () => {
  for (const [index, [m, , k]] of SHAPES.entries()) {
    const a = noise(m * k, index + 7);
    const at = new Float32Array(k * m);
    for (let r = 0; r < m; r++) for (let p = 0; p < k; p++) at[p * m + r] = a[r * k + p];
    // Every other element of a matrix twice as wide: neither rows nor columns contiguous.
    const spread = new Float32Array(2 * m * k);
    a.forEach((v, i) => (spread[2 * i] = v));
    const bytes = packedABytes(m, k);
    const packs = [
      [inHeap(a), k * 4, 4],
      [inHeap(at), 4, m * 4],
      [inHeap(spread), 8 * k, 8],
    ].map(([source, rs, cs]) => {
      const dst = heap.allocate(bytes);
      heap.kernels.packA(
        (source as Float32Array).byteOffset,
        rs as number,
        cs as number,
        m,
        k,
        dst,
      );
      return Array.from(heap.floats(dst, bytes / 4));
    });
    assert.deepEqual(packs[1], packs[0], `${m}×${k} from columns`);
    assert.deepEqual(packs[2], packs[0], `${m}×${k} strided`);
    for (let r = 0; r < m; r++) {
      for (let p = 0; p < k; p++)
        assert.equal(packs[0][(r >> 2) * k * 4 + p * 4 + (r & 3)], a[r * k + p]);
    }
  }
});
