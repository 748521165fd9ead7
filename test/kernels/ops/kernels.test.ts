import assert from "node:assert/strict";
import { test } from "node:test";
import { conv2d, convTranspose2d, pool2d, type Window2d } from "../../../src/kernels/ops/conv.js";
import { erf, mapBinary, select, type Dense } from "../../../src/kernels/ops/elementwise.js";
import {
  concat,
  gather,
  gatherAlongAxis,
  interleave,
  pad,
  stridedSlice,
  tile,
  transpose,
  upsampleNearest,
} from "../../../src/kernels/ops/movement.js";
import { gemm, linear, matmul } from "../../../src/kernels/ops/matmul.js";
import { lstm } from "../../../src/kernels/ops/recurrent.js";
import { normalize, reduce, softmax } from "../../../src/kernels/ops/reduce.js";

function dense(shape: number[], values?: number[]): Dense {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from(values ?? Array.from({ length: n }, (_, i) => i)) };
}

/** Deterministic pseudo-random data in [-1, 1). */
function noise(shape: number[], seed: number): Dense {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    shape,
    data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) % 1),
  };
}

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tolerance = 1e-5,
): void {
  assert.equal(actual.length, expected.length, "lengths differ");
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tolerance * Math.max(1, Math.abs(expected[i])),
      `element ${i}: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

test("erf matches Python's math.erf across its range", () => {
  const xs = [-3, -1, -0.5, 0, 0.5, 1, 3, 2.5, 4, -5.5, 0.1];
  const expected = [
    -0.9999779095030014, -0.8427007929497149, -0.5204998778130465, 0, 0.5204998778130465,
    0.8427007929497149, 0.9999779095030014, 0.999593047982555, 0.9999999845827421,
    -0.9999999999999927, 0.1124629160182849,
  ];
  xs.forEach((x, i) => assert.ok(Math.abs(erf(x) - expected[i]) < 1e-12, `erf(${x})`));
});

test("binary ops broadcast like numpy", () => {
  const a = dense([2, 1, 3]);
  const b = dense([4, 1], [10, 20, 30, 40]);
  const sum = mapBinary(a, b, (x, y) => x + y);
  assert.deepEqual(sum.shape, [2, 4, 3]);
  // a[1,0,2] + b[3,0] = 5 + 40
  assert.equal(sum.data[1 * 12 + 3 * 3 + 2], 45);
  assert.equal(sum.data[0], 10);
  assert.throws(() => mapBinary(dense([2, 3]), dense([4]), (x) => x), /do not broadcast/);
  const chosen = select(dense([2, 1], [1, 0]), dense([2, 2], [1, 2, 3, 4]), dense([1], [-1]));
  assert.deepEqual(Array.from(chosen.data), [1, 2, -1, -1]);
});

test("gemm handles every transposition and matches a naive product", () => {
  const [m, n, k] = [7, 9, 5];
  const a = noise([m, k], 1).data;
  const b = noise([k, n], 2).data;
  const expected = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++)
      for (let p = 0; p < k; p++) expected[i * n + j] += a[i * k + p] * b[p * n + j];
  const at = transpose(dense([m, k], Array.from(a)), [1, 0]).data;
  const bt = transpose(dense([k, n], Array.from(b)), [1, 0]).data;
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    const c = new Float32Array(m * n);
    gemm(m, n, k, ta ? at : a, 0, ta, tb ? bt : b, 0, tb, c, 0);
    assertClose(c, expected);
  }
});

test("matmul broadcasts batches and handles vectors; linear adds the bias", () => {
  const x = dense([2, 1, 2, 3]);
  const y = dense([3, 3, 2]);
  const out = matmul(x, y, false, false);
  assert.deepEqual(out.shape, [2, 3, 2, 2]);
  // batch (1, 2): x[1,0] = [[6,7,8],[9,10,11]], y[2] = [[12,13],[14,15],[16,17]]
  assertClose(out.data.subarray(5 * 4, 6 * 4), [
    6 * 12 + 7 * 14 + 8 * 16,
    6 * 13 + 7 * 15 + 8 * 17,
    9 * 12 + 10 * 14 + 11 * 16,
    9 * 13 + 10 * 15 + 11 * 17,
  ]);
  const vector = matmul(dense([3], [1, 2, 3]), dense([3, 2]), false, false);
  assert.deepEqual(vector.shape, [2]);
  assertClose(vector.data, [0 + 2 * 2 + 3 * 4, 1 + 2 * 3 + 3 * 5]);
  const transposed = matmul(dense([2, 3]), dense([2, 3]), false, true);
  assertClose(transposed.data, [5, 14, 14, 50]);
  for (const rows of [1, 6]) {
    const result = linear(
      dense([rows, 3]),
      dense([2, 3], [1, 0, -1, 2, 2, 2]),
      Float32Array.from([0.5, -0.5]),
    );
    assert.deepEqual(result.shape, [rows, 2]);
    assertClose(result.data.subarray(0, 2), [-2 + 0.5, 6 - 0.5]);
  }
});

/** Direct-definition convolution, the reference for the im2col and depthwise paths. */
function naiveConv(
  x: Dense,
  w: Dense,
  bias: number[] | undefined,
  win: Window2d,
  groups: number,
): Float32Array {
  const [n, c, h, wd] = x.shape;
  const [o, cg, kh, kw] = w.shape;
  const [pt, pb, pl, pr] = win.pads;
  const oh = Math.floor((h + pt + pb - (kh - 1) * win.dilations[0] - 1) / win.strides[0]) + 1;
  const ow = Math.floor((wd + pl + pr - (kw - 1) * win.dilations[1] - 1) / win.strides[1]) + 1;
  const out = new Float32Array(n * o * oh * ow);
  const og = o / groups;
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++)
      for (let y = 0; y < oh; y++)
        for (let xo = 0; xo < ow; xo++) {
          let s = bias ? bias[oc] : 0;
          const g = Math.floor(oc / og);
          for (let ic = 0; ic < cg; ic++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = y * win.strides[0] + ky * win.dilations[0] - pt;
                const ix = xo * win.strides[1] + kx * win.dilations[1] - pl;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s +=
                  x.data[((b * c + g * cg + ic) * h + iy) * wd + ix] *
                  w.data[((oc * cg + ic) * kh + ky) * kw + kx];
              }
          out[((b * o + oc) * oh + y) * ow + xo] = s;
        }
  return out;
}

test("conv matches the direct definition: groups, strides, dilations, padding, depthwise, 1x1", () => {
  const cases: { x: number[]; w: number[]; groups: number; win: Window2d }[] = [
    {
      x: [2, 4, 7, 6],
      w: [6, 2, 3, 3],
      groups: 2,
      win: { kernel: [3, 3], strides: [2, 1], dilations: [1, 2], pads: [1, 2, 0, 1] },
    },
    {
      x: [1, 5, 8, 8],
      w: [5, 1, 3, 3],
      groups: 5,
      win: { kernel: [3, 3], strides: [2, 2], dilations: [1, 1], pads: [1, 1, 1, 1] },
    },
    {
      x: [1, 3, 5, 5],
      w: [4, 3, 1, 1],
      groups: 1,
      win: { kernel: [1, 1], strides: [1, 1], dilations: [1, 1], pads: [0, 0, 0, 0] },
    },
    {
      x: [1, 3, 9, 4],
      w: [2, 3, 2, 3],
      groups: 1,
      win: { kernel: [2, 3], strides: [3, 1], dilations: [2, 1], pads: [0, 0, 2, 2] },
    },
  ];
  cases.forEach(({ x: xs, w: ws, groups, win }, i) => {
    const x = noise(xs, i);
    const w = noise(ws, i + 10);
    const bias = Array.from({ length: ws[0] }, (_, k) => k * 0.1);
    const got = conv2d(x, w, Float32Array.from(bias), win, groups);
    assertClose(got.data, naiveConv(x, w, bias, win, groups));
  });
});

test("conv_transpose inverts the geometry of a strided conv (scatter definition)", () => {
  const x = noise([1, 4, 3, 3], 3);
  const w = noise([4, 3, 3, 3], 4); // [C_in, C_out/groups, kh, kw], groups 2 → 6 outputs
  const win: Window2d = { kernel: [3, 3], strides: [2, 2], dilations: [1, 1], pads: [1, 1, 1, 1] };
  const got = convTranspose2d(x, w, undefined, win, 2, [5, 5]);
  assert.deepEqual(got.shape, [1, 6, 5, 5]);
  const expected = new Float32Array(6 * 25);
  for (let ic = 0; ic < 4; ic++) {
    const g = Math.floor(ic / 2);
    for (let oc = 0; oc < 3; oc++)
      for (let iy = 0; iy < 3; iy++)
        for (let ix = 0; ix < 3; ix++)
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const y = iy * 2 + ky - 1;
              const xo = ix * 2 + kx - 1;
              if (y < 0 || y >= 5 || xo < 0 || xo >= 5) continue;
              expected[(g * 3 + oc) * 25 + y * 5 + xo] +=
                x.data[ic * 9 + iy * 3 + ix] * w.data[((ic * 3 + oc) * 3 + ky) * 3 + kx];
            }
  }
  assertClose(got.data, expected);
});

test("pooling: max, average with and without padding counted", () => {
  const x = dense([1, 1, 3, 3]);
  const win: Window2d = { kernel: [2, 2], strides: [2, 2], dilations: [1, 1], pads: [0, 1, 0, 1] };
  assert.deepEqual(Array.from(pool2d(x, win, [2, 2], "max", false).data), [4, 5, 7, 8]);
  assertClose(pool2d(x, win, [2, 2], "avg", true).data, [2, 3.5, 6.5, 8]);
  assertClose(pool2d(x, win, [2, 2], "avg", false).data, [2, 1.75, 3.25, 2]);
});

test("reductions, normalization and softmax over axes", () => {
  const x = dense([2, 3, 2]);
  assert.deepEqual(Array.from(reduce(x, [1], "sum", false).data), [6, 9, 24, 27]);
  assert.deepEqual(reduce(x, [0, 2], "max", true).shape, [1, 3, 1]);
  assert.deepEqual(Array.from(reduce(x, [0, 2], "max", true).data), [7, 9, 11]);
  assert.deepEqual(Array.from(reduce(x, [2], "argmax", false).data), [1, 1, 1, 1, 1, 1]);
  assertClose(reduce(x, [0, 1, 2], "mean", false).data, [5.5]);
  const normalized = normalize(
    dense([1, 4], [1, 2, 3, 4]),
    [1],
    0,
    () => 2,
    () => 1,
  );
  const inv = 1 / Math.sqrt(1.25);
  assertClose(normalized.data, [
    -1.5 * inv * 2 + 1,
    -0.5 * inv * 2 + 1,
    0.5 * inv * 2 + 1,
    1.5 * inv * 2 + 1,
  ]);
  const s = softmax(dense([2, 2], [0, Math.log(3), 1000, 1000]), 1);
  assertClose(s.data, [0.25, 0.75, 0.5, 0.5]);
});

test("layout kernels: transpose, slices, concat, interleave, pad modes, tile, gathers, upsample", () => {
  const x = dense([2, 3]);
  assert.deepEqual(Array.from(transpose(x, [1, 0]).data), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(Array.from(stridedSlice(x, [1, 2], [1, 2], [1, -2]).data), [5, 3]);
  assert.deepEqual(
    Array.from(concat([x, dense([2, 1], [9, 9])], 1).data),
    [0, 1, 2, 9, 3, 4, 5, 9],
  );
  assert.deepEqual(
    Array.from(interleave([dense([2], [1, 2]), dense([2], [3, 4])], 0).data),
    [1, 3, 2, 4],
  );
  const row = dense([1, 3], [1, 2, 3]);
  const pads: [number, number][] = [
    [0, 0],
    [2, 1],
  ];
  assert.deepEqual(Array.from(pad(row, pads, "constant", 7).data), [7, 7, 1, 2, 3, 7]);
  assert.deepEqual(Array.from(pad(row, pads, "reflect", 0).data), [3, 2, 1, 2, 3, 2]);
  assert.deepEqual(Array.from(pad(row, pads, "replicate", 0).data), [1, 1, 1, 2, 3, 3]);
  assert.deepEqual(Array.from(tile(dense([2], [1, 2]), [3]).data), [1, 2, 1, 2, 1, 2]);
  const picked = gather(x, dense([2], [-1, 0]), 1, 0);
  assert.deepEqual(picked.shape, [2, 2]);
  assert.deepEqual(Array.from(picked.data), [2, 0, 5, 3]);
  assert.throws(() => gather(x, dense([1], [3]), 1, 0), /out of range/);
  assert.deepEqual(Array.from(gatherAlongAxis(x, dense([2, 1], [2, 0]), 1).data), [2, 3]);
  const up = upsampleNearest(dense([1, 1, 2, 2]), 4, 3, 2, 1.5);
  assert.deepEqual(Array.from(up.data), [0, 0, 1, 0, 0, 1, 2, 2, 3, 2, 2, 3]);
});

test("lstm follows the i, f, o, z gate layout", () => {
  // One unit, one input: hand-computed two steps.
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const wi = [0.5, -0.3, 0.8, 0.2]; // i, f, o, z
  const wh = [0.1, 0.4, -0.2, 0.6];
  const bias = [0.05, 0.1, -0.05, 0.0];
  const xs = [1, -2];
  let h = 0.3;
  let c = -0.1;
  const expected: number[] = [];
  for (const x of xs) {
    const gate = (k: number) => wi[k] * x + wh[k] * h + bias[k];
    const i = sigmoid(gate(0));
    const f = sigmoid(gate(1));
    const o = sigmoid(gate(2));
    const z = Math.tanh(gate(3));
    c = f * c + i * z;
    h = o * Math.tanh(c);
    expected.push(h);
  }
  const result = lstm(
    Float32Array.from(xs),
    2,
    1,
    1,
    1,
    Float32Array.from([0.3]),
    Float32Array.from([-0.1]),
    {
      inputWeights: Float32Array.from(wi),
      recurrentWeights: Float32Array.from(wh),
      bias: Float32Array.from(bias),
    },
    { reverse: false, gate: sigmoid, cell: Math.tanh, output: Math.tanh },
  );
  assertClose(result.sequence, expected);
  assertClose(result.c, [c]);
});
