/**
 * The iOS 13+ ("ND") neural-network layers against direct computations: index by index
 * broadcasting, the examples of Core ML's specification, and formulas written out.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayFeatureType_ArrayDataType } from "../../src/format/gen/FeatureTypes_pb.js";
import { ScatterMode } from "../../src/format/gen/NeuralNetwork_pb.js";
import { randomSamples } from "../../src/runtime/inputs.js";
import { NeuralNetworkInterpreter } from "../../src/runtime/neural-network.js";
import { LAYER_FAMILIES, LAYERS, supportedLayerTypes } from "../../src/runtime/layers/table.js";
import { floatWeights, nd, ndNetwork, noise, runNetwork } from "../support/neural-networks.js";

type Values = { shape: number[]; values: number[] };

const ramp = (n: number, scale = 1, offset = 0) =>
  Array.from({ length: n }, (_, i) => Math.fround(((i * 7) % 13) * scale + offset));
const seq = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, tol = 1e-5) {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] === expected[i]) continue; // infinities included
    const limit = tol * Math.max(1, Math.abs(expected[i]));
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= limit,
      `${label}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

/** Multi-index of flat index i in shape. */
function unravel(i: number, shape: number[]): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return out;
}

/** Value of `x` at a multi-index of a broadcast shape (numpy's rules, read index by index). */
function at(x: Values, index: number[]): number {
  const offset = index.length - x.shape.length;
  let flat = 0;
  x.shape.forEach((d, k) => (flat = flat * d + (d === 1 ? 0 : index[k + offset])));
  return x.values[flat];
}

function broadcastRef(a: Values, b: Values, shape: number[], fn: (x: number, y: number) => number) {
  const n = shape.reduce((p, d) => p * d, 1);
  return Array.from({ length: n }, (_, i) =>
    fn(at(a, unravel(i, shape)), at(b, unravel(i, shape))),
  );
}

function run1(layer: ReturnType<typeof nd>, inputs: Record<string, Values>, output = "y") {
  const spec = ndNetwork(
    Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.shape])),
    [layer],
    [output],
  );
  return runNetwork(spec, inputs)[output];
}

test("the layer table: families do not overlap, and every entry is supported", () => {
  const total = Object.values(LAYER_FAMILIES).reduce((n, f) => n + Object.keys(f).length, 0);
  assert.equal(Object.keys(LAYERS).length, total);
  assert.ok(supportedLayerTypes().includes("loop"));
  assert.ok(!supportedLayerTypes().includes("custom"));
});

test("broadcasting arithmetic, comparisons, logic and where follow numpy, index by index", () => {
  const a: Values = { shape: [2, 1, 3], values: ramp(6, 0.5, -1) };
  const b: Values = { shape: [4, 1], values: [0.5, 1.5, -1, 2] };
  const shape = [2, 4, 3];
  const cases: [Parameters<typeof nd>[0], (x: number, y: number) => number][] = [
    ["addBroadcastable", (x, y) => x + y],
    ["subtractBroadcastable", (x, y) => x - y],
    ["multiplyBroadcastable", (x, y) => x * y],
    ["divideBroadcastable", (x, y) => x / y],
    ["maxBroadcastable", Math.max],
    ["minBroadcastable", Math.min],
    ["floorDivBroadcastable", (x, y) => Math.floor(x / y)],
    ["modBroadcastable", (x, y) => x - Math.floor(x / y) * y],
    ["powBroadcastable", (x, y) => Math.abs(x) ** y],
    ["equal", (x, y) => Number(x === y)],
    ["notEqual", (x, y) => Number(x !== y)],
    ["lessThan", (x, y) => Number(x < y)],
    ["lessEqual", (x, y) => Number(x <= y)],
    ["greaterThan", (x, y) => Number(x > y)],
    ["greaterEqual", (x, y) => Number(x >= y)],
    ["logicalAnd", (x, y) => Number(x !== 0 && y !== 0)],
    ["logicalOr", (x, y) => Number(x !== 0 || y !== 0)],
    ["logicalXor", (x, y) => Number((x !== 0) !== (y !== 0))],
  ];
  for (const [type, fn] of cases) {
    const left = type === "powBroadcastable" ? { ...a, values: a.values.map(Math.abs) } : a;
    const out = run1(nd(type, ["a", "b"], "y"), { a: left, b });
    assert.deepEqual(out.shape, shape, type);
    close(out.data as Float32Array, broadcastRef(left, b, shape, fn), type);
  }
  // One input: compared with alpha.
  const one = run1(nd("greaterThan", "a", "y", { alpha: 0.25 }), { a });
  close(
    one.data as Float32Array,
    a.values.map((v) => Number(v > 0.25)),
    "greaterThan alpha",
  );
  const not = run1(nd("logicalNot", "a", "y"), { a });
  close(
    not.data as Float32Array,
    a.values.map((v) => Number(v === 0)),
    "logicalNot",
  );
  const cond: Values = { shape: [4, 1], values: [1, 0, 0, 1] };
  const where = run1(nd("whereBroadcastable", ["c", "a", "b"], "y"), { c: cond, a, b });
  const expected = Array.from({ length: 24 }, (_, i) => {
    const index = unravel(i, shape);
    return at(cond, index) ? at(a, index) : at(b, index);
  });
  close(where.data as Float32Array, expected, "where");
});

test("math and activation layers apply their formulas to every value, any rank", () => {
  const x: Values = { shape: [2, 3], values: [-2, -0.5, 0, 0.3, 0.7, 2.5] };
  const erf = (v: number) => {
    // Abramowitz–Stegun 7.1.26 is too coarse; integrate the series directly.
    let sum = 0;
    let term = v;
    for (let n = 0; n < 60; n++) {
      sum += term / (2 * n + 1);
      term *= (-v * v) / (n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  };
  const cases: [Parameters<typeof nd>[0], object, (v: number) => number][] = [
    ["ceil", {}, Math.ceil],
    ["floor", {}, Math.floor],
    ["round", {}, (v) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v))],
    ["sign", {}, Math.sign],
    ["exp2", {}, (v) => 2 ** v],
    ["sin", {}, Math.sin],
    ["cos", {}, Math.cos],
    ["tan", {}, Math.tan],
    ["atan", {}, Math.atan],
    ["sinh", {}, Math.sinh],
    ["cosh", {}, Math.cosh],
    ["tanh", {}, Math.tanh],
    ["asinh", {}, Math.asinh],
    ["erf", {}, erf],
    ["gelu", { mode: 0 }, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2))],
    ["clip", { minVal: -1, maxVal: 0.5 }, (v) => Math.min(0.5, Math.max(-1, v))],
    ["clampedReLU", { alpha: 0.1, beta: 2 }, (v) => Math.min(2, v >= 0 ? v : 0.1 * v)],
  ];
  for (const [type, params, fn] of cases) {
    const out = run1(nd(type, "x", "y", params as never), { x });
    assert.deepEqual(out.shape, [2, 3], type);
    close(out.data as Float32Array, x.values.map(fn), type, 1e-6);
  }
  const bounded: Values = { shape: [4], values: [-0.9, -0.2, 0.4, 0.8] };
  for (const [type, fn] of [
    ["asin", Math.asin],
    ["acos", Math.acos],
    ["atanh", Math.atanh],
  ] as const) {
    close(
      run1(nd(type, "x", "y"), { x: bounded }).data as Float32Array,
      bounded.values.map(fn),
      type,
    );
  }
  close(
    run1(nd("acosh", "x", "y"), { x: { shape: [2], values: [1.5, 3] } }).data as Float32Array,
    [Math.acosh(1.5), Math.acosh(3)],
    "acosh",
  );
  // softmaxND along axis 0 of [2, 3]: each column sums to 1.
  const soft = run1(nd("softmaxND", "x", "y", { axis: 0n }), { x });
  const expected = x.values.map((v, i) => {
    const other = x.values[(i + 3) % 6];
    return Math.exp(v) / (Math.exp(v) + Math.exp(other));
  });
  close(soft.data as Float32Array, expected, "softmaxND");
});

test("reshapes, transposes, squeezes and broadcasts move values as the specification says", () => {
  const x: Values = { shape: [2, 3, 4], values: seq(24) };
  const t = run1(nd("transpose", "x", "y", { axes: [2n, 0n, 1n] }), { x });
  assert.deepEqual(t.shape, [4, 2, 3]);
  close(
    t.data as Float32Array,
    Array.from({ length: 24 }, (_, i) => {
      const [k, a, b] = unravel(i, [4, 2, 3]);
      return (a * 3 + b) * 4 + k;
    }),
    "transpose",
  );
  assert.deepEqual(
    run1(nd("reshapeStatic", "x", "y", { targetShape: [4n, -1n] }), { x }).shape,
    [4, 6],
  );
  assert.deepEqual(
    run1(nd("rankPreservingReshape", "x", "y", { targetShape: [0n, 2n, -1n] }), { x }).shape,
    [2, 2, 6],
  );
  const dyn = run1(nd("reshapeDynamic", ["x", "s"], "y"), { x, s: { shape: [2], values: [6, 4] } });
  assert.deepEqual(dyn.shape, [6, 4]);
  close(dyn.data as Float32Array, x.values, "reshapeDynamic keeps the order");
  const like = run1(nd("reshapeLike", ["x", "l"], "y"), {
    x,
    l: { shape: [3, 8], values: seq(24) },
  });
  assert.deepEqual(like.shape, [3, 8]);
  // The specification's examples.
  const ones: Values = { shape: [1, 1, 10, 5], values: seq(50) };
  assert.deepEqual(run1(nd("squeeze", "x", "y", { axes: [0n, 1n] }), { x: ones }).shape, [10, 5]);
  assert.deepEqual(run1(nd("squeeze", "x", "y", { squeezeAll: true }), { x: ones }).shape, [10, 5]);
  assert.deepEqual(
    run1(nd("squeeze", "x", "y", { axes: [0n] }), { x: { shape: [1], values: [3] } }).shape,
    [1],
  );
  const pair: Values = { shape: [10, 5], values: seq(50) };
  assert.deepEqual(
    run1(nd("expandDims", "x", "y", { axes: [0n, 2n] }), { x: pair }).shape,
    [1, 10, 1, 5],
  );
  assert.deepEqual(
    run1(nd("expandDims", "x", "y", { axes: [-2n, -1n] }), { x: pair }).shape,
    [10, 5, 1, 1],
  );
  assert.deepEqual(
    run1(nd("flattenTo2D", "x", "y", { axis: -2n }), { x: { shape: [5, 5, 3], values: seq(75) } })
      .shape,
    [5, 15],
  );
  assert.deepEqual(
    run1(nd("flattenTo2D", "x", "y", { axis: -1n }), { x: { shape: [3], values: seq(3) } }).shape,
    [1, 3],
  );
  const shape = run1(nd("getShape", "x", "y"), { x });
  assert.deepEqual(Array.from(shape.data as Float32Array), [2, 3, 4]);
  // Broadcasts and tiles repeat values.
  const row: Values = { shape: [1, 3], values: [1, 2, 3] };
  const wide = run1(nd("broadcastToStatic", "x", "y", { targetShape: [2n, 3n] }), { x: row });
  close(wide.data as Float32Array, [1, 2, 3, 1, 2, 3], "broadcastToStatic");
  const dynWide = run1(nd("broadcastToDynamic", ["x", "s"], "y"), {
    x: row,
    s: { shape: [3], values: [2, 2, 3] },
  });
  assert.deepEqual(dynWide.shape, [2, 2, 3]);
  const tiled = run1(nd("tile", "x", "y", { reps: [2n] }), { x: row });
  close(tiled.data as Float32Array, [1, 2, 3, 1, 2, 3], "tile (reps padded with ones)");
  assert.deepEqual(tiled.shape, [1, 6]);
});

test("static and dynamic slices follow TensorFlow's strided slice (the specification's examples)", () => {
  const x: Values = { shape: [5, 5, 5], values: seq(125) };
  const params = {
    beginIds: [1n, 2n, 3n],
    beginMasks: [true, false, true],
    endIds: [3n, -3n, 2n],
    endMasks: [false, true, true],
    strides: [2n, 2n, 2n],
  };
  // input[:3:2, 2::2, ::2]
  const expected = [0, 2].flatMap((i) =>
    [2, 4].flatMap((j) => [0, 2, 4].map((k) => (i * 5 + j) * 5 + k)),
  );
  const out = run1(
    nd("sliceStatic", "x", "y", { ...params, squeezeMasks: [false, false, false] }),
    { x },
  );
  assert.deepEqual(out.shape, [2, 2, 3]);
  close(out.data as Float32Array, expected, "sliceStatic");
  // input[:3:2, 2, ::2]
  const squeezed = run1(
    nd("sliceStatic", "x", "y", { ...params, squeezeMasks: [false, true, false] }),
    { x },
  );
  assert.deepEqual(squeezed.shape, [2, 3]);
  close(
    squeezed.data as Float32Array,
    [0, 2].flatMap((i) => [0, 2, 4].map((k) => (i * 5 + 2) * 5 + k)),
    "squeezed",
  );
  // Negative stride: x[4:0:-2] along the first axis.
  const back = run1(
    nd("sliceStatic", "x", "y", {
      beginIds: [4n, 0n, 0n],
      endIds: [0n, 1n, 1n],
      strides: [-2n, 1n, 1n],
      beginMasks: [false, false, false],
      endMasks: [false, false, false],
    }),
    { x },
  );
  close(back.data as Float32Array, [100, 50], "negative stride");
  const dynamic = run1(
    nd("sliceDynamic", ["x", "b", "e"], "y", {
      strides: [1n, 1n, 2n],
      beginMasks: [false, false, false],
      endMasks: [false, false, false],
    }),
    { x, b: { shape: [3], values: [1, -2, 0] }, e: { shape: [3], values: [2, 5, 5] } },
  );
  assert.deepEqual(dynamic.shape, [1, 2, 3]);
  close(
    dynamic.data as Float32Array,
    [3, 4].flatMap((j) => [0, 2, 4].map((k) => 25 + j * 5 + k)),
    "sliceDynamic",
  );
  const bySize = run1(nd("sliceBySize", ["x", "b"], "y", { size: 2n, axis: 1n }), {
    x: { shape: [2, 3, 4], values: seq(24) },
    b: { shape: [1], values: [1] },
  });
  assert.deepEqual(bySize.shape, [2, 2, 4]);
  close(bySize.data as Float32Array, [...seq(8, 4), ...seq(8, 16)], "sliceBySize");
});

test("splits, concatenations, stacks and windows cut and join along any axis", () => {
  const x: Values = { shape: [5, 3, 4], values: seq(60) };
  const spec = ndNetwork(
    { x: x.shape },
    [nd("splitND", "x", ["p", "q"], { axis: -3n, splitSizes: [3n, 2n] })],
    ["p", "q"],
  );
  const parts = runNetwork(spec, { x });
  assert.deepEqual(parts.p.shape, [3, 3, 4]);
  assert.deepEqual(parts.q.shape, [2, 3, 4]);
  close(parts.q.data as Float32Array, seq(24, 36), "splitND");
  const a: Values = { shape: [3, 2], values: [1, 2, 3, 4, 5, 6] };
  const b: Values = { shape: [3, 2], values: [7, 8, 9, 10, 11, 12] };
  const joined = run1(nd("concatND", ["a", "b"], "y", { axis: 0n }), { a, b });
  close(joined.data as Float32Array, seq(12, 1), "concatND");
  const interleaved = run1(nd("concatND", ["a", "b"], "y", { axis: 0n, interleave: true }), {
    a,
    b,
  });
  close(interleaved.data as Float32Array, [1, 2, 7, 8, 3, 4, 9, 10, 5, 6, 11, 12], "interleave");
  const stacked = run1(nd("stack", ["a", "b"], "y", { axis: -1n }), { a, b });
  assert.deepEqual(stacked.shape, [3, 2, 2]);
  close(stacked.data as Float32Array, [1, 7, 2, 8, 3, 9, 4, 10, 5, 11, 6, 12], "stack");
  // Windows of 3, step 2, along axis 1 of [2, 7, 1]: 3 windows.
  const windows = run1(nd("slidingWindows", "x", "y", { axis: 1n, windowSize: 3n, step: 2n }), {
    x: { shape: [2, 7, 1], values: seq(14) },
  });
  assert.deepEqual(windows.shape, [2, 3, 3, 1]);
  close(
    windows.data as Float32Array,
    [0, 7].flatMap((base) => [0, 2, 4].flatMap((s) => [0, 1, 2].map((k) => base + s + k))),
    "slidingWindows",
  );
});

test("gathers and scatters read and write at indices (negative ones from the end)", () => {
  const data: Values = { shape: [2, 3, 5], values: seq(30) };
  const indices: Values = { shape: [2, 2], values: [2, 0, -1, 1] };
  const g = run1(nd("gather", ["x", "i"], "y", { axis: 1n }), { x: data, i: indices });
  assert.deepEqual(g.shape, [2, 2, 2, 5]);
  close(
    g.data as Float32Array,
    [0, 1].flatMap((a) => [2, 0, 2, 1].flatMap((j) => seq(5, (a * 3 + j) * 5))),
    "gather",
  );
  // gatherND: [6, 2] indices into [4, 2, 3, 4] give [6, 3, 4].
  const params: Values = { shape: [4, 2, 3, 4], values: seq(96) };
  const points: Values = { shape: [3, 2], values: [0, 1, 3, 0, 2, 1] };
  const gnd = run1(nd("gatherND", ["x", "i"], "y"), { x: params, i: points });
  assert.deepEqual(gnd.shape, [3, 3, 4]);
  close(
    gnd.data as Float32Array,
    [1, 6, 5].flatMap((p) => seq(12, p * 12)),
    "gatherND",
  );
  const along = run1(nd("gatherAlongAxis", ["x", "i"], "y", { axis: 0n }), {
    x: { shape: [2, 2], values: [1, 2, 3, 4] },
    i: { shape: [2, 2], values: [1, 0, 1, 1] },
  });
  close(along.data as Float32Array, [3, 2, 3, 4], "gatherAlongAxis");
  // scatter along axis 1 of [4, 3] with indices [2] → updates [4, 2].
  const container: Values = { shape: [4, 3], values: seq(12) };
  const updates: Values = { shape: [4, 2], values: [10, 20, 30, 40, 50, 60, 70, 80] };
  const at2: Values = { shape: [2], values: [2, 0] };
  const replaced = run1(nd("scatter", ["c", "i", "u"], "y", { axis: 1n }), {
    c: container,
    i: at2,
    u: updates,
  });
  close(replaced.data as Float32Array, [20, 1, 10, 40, 4, 30, 60, 7, 50, 80, 10, 70], "scatter");
  const added = run1(
    nd("scatter", ["c", "i", "u"], "y", { axis: 1n, mode: ScatterMode.SCATTER_ADD }),
    {
      c: container,
      i: at2,
      u: updates,
    },
  );
  close(added.data as Float32Array, [20, 1, 12, 43, 4, 35, 66, 7, 58, 89, 10, 81], "scatter add");
  const alongAxis = run1(
    nd("scatterAlongAxis", ["c", "i", "u"], "y", { axis: 0n, mode: ScatterMode.SCATTER_MAX }),
    {
      c: { shape: [2, 2], values: [5, 5, 5, 5] },
      i: { shape: [1, 2], values: [1, 0] },
      u: { shape: [1, 2], values: [9, 1] },
    },
  );
  close(alongAxis.data as Float32Array, [5, 5, 9, 5], "scatterAlongAxis");
  const snd = run1(nd("scatterND", ["c", "i", "u"], "y"), {
    c: { shape: [3, 2], values: seq(6) },
    i: { shape: [2, 2], values: [0, 1, 2, 0] },
    u: { shape: [2], values: [-1, -2] },
  });
  close(snd.data as Float32Array, [0, -1, 2, 3, -2, 5], "scatterND");
});

test("reversals, padding, masks and non-zero indices follow the specification's examples", () => {
  const rs = run1(nd("reverseSeq", ["x", "l"], "y", { batchAxis: 0n, sequenceAxis: 1n }), {
    x: { shape: [2, 4], values: seq(8) },
    l: { shape: [2], values: [3, 0] },
  });
  close(rs.data as Float32Array, [2, 1, 0, 3, 4, 5, 6, 7], "reverseSeq");
  const rev = run1(nd("reverse", "x", "y", { reverseDim: [false, true] }), {
    x: { shape: [2, 3], values: seq(6) },
  });
  close(rev.data as Float32Array, [2, 1, 0, 5, 4, 3], "reverse");
  const padded = run1(nd("constantPad", "x", "y", { value: 9, padAmounts: [0n, 1n, 2n, 0n] }), {
    x: { shape: [1, 2], values: [1, 2] },
  });
  assert.deepEqual(padded.shape, [2, 4]);
  close(padded.data as Float32Array, [9, 9, 1, 2, 9, 9, 9, 9], "constantPad");
  const toSize = run1(
    nd("constantPad", "x", "y", { padAmounts: [0n, 3n, 4n, 0n], padToGivenOutputSizeMode: true }),
    { x: { shape: [2, 2], values: [1, 2, 3, 4] } },
  );
  assert.deepEqual(toSize.shape, [3, 4]);
  const nz = run1(nd("whereNonZero", "x", "y"), {
    x: { shape: [3, 3], values: [1, 2, 1, 0, 2, 2, 2, 1, 0] },
  });
  assert.deepEqual(nz.shape, [7, 2]);
  close(nz.data as Float32Array, [0, 0, 0, 1, 0, 2, 1, 1, 1, 2, 2, 0, 2, 1], "whereNonZero");
  const m: Values = { shape: [3, 3], values: seq(9, 1) };
  close(
    run1(nd("lowerTriangular", "x", "y"), { x: m }).data as Float32Array,
    [1, 0, 0, 4, 5, 0, 7, 8, 9],
    "lower",
  );
  close(
    run1(nd("upperTriangular", "x", "y", { k: 1n }), { x: m }).data as Float32Array,
    [0, 2, 3, 0, 0, 6, 0, 0, 0],
    "upper",
  );
  close(
    run1(nd("matrixBandPart", "x", "y", { numLower: 0n, numUpper: 1n }), { x: m })
      .data as Float32Array,
    [1, 2, 0, 0, 5, 6, 0, 0, 9],
    "band",
  );
});

test("constants, fills, ranges and one-hot vectors", () => {
  const values = noise(6, 3);
  const spec = ndNetwork(
    {},
    [
      nd("loadConstantND", [], "c", { shape: [2n, 3n], data: floatWeights(values) }),
      nd("fillStatic", [], "f", { value: 2.5, targetShape: [2n, 2n] }),
      nd("fillLike", "c", "fl", { value: -1 }),
      nd("getShape", "c", "s"),
      nd("fillDynamic", "s", "fd", { value: 7 }),
      nd("rangeStatic", [], "r", { startValue: 1, endValue: 2, stepSizeValue: 0.25 }),
    ],
    ["c", "f", "fl", "fd", "r"],
  );
  const out = runNetwork(spec, {});
  assert.deepEqual(out.c.shape, [2, 3]);
  close(out.c.data as Float32Array, values, "loadConstantND");
  close(out.f.data as Float32Array, [2.5, 2.5, 2.5, 2.5], "fillStatic");
  assert.deepEqual(out.fl.shape, [2, 3]);
  assert.deepEqual(out.fd.shape, [2, 3]);
  close(out.fd.data as Float32Array, new Array(6).fill(7), "fillDynamic");
  close(out.r.data as Float32Array, [1, 1.25, 1.5, 1.75], "rangeStatic");
  const dyn = run1(nd("rangeDynamic", ["e", "s"], "y", { stepSizeValue: 3 }), {
    e: { shape: [1], values: [10] },
    s: { shape: [1], values: [2] },
  });
  close(dyn.data as Float32Array, [2, 5, 8], "rangeDynamic");
  const hot = run1(
    nd("oneHot", "x", "y", { oneHotVectorSize: 4n, axis: -1n, onValue: 5, offValue: -1 }),
    {
      x: { shape: [2], values: [2, -1] },
    },
  );
  close(hot.data as Float32Array, [-1, -1, 5, -1, -1, -1, -1, -1], "oneHot");
});

test("reductions, arg-extremes, top-k, argsort and cumulative sums", () => {
  const x: Values = { shape: [2, 3, 2], values: [3, -1, 4, 1, -5, 9, 2, 6, -5, 3, 5, 8] };
  const sum = (ids: number[]) => ids.reduce((a, i) => a + x.values[i], 0);
  const overAxis1 = [0, 1, 6, 7].map((base) => [base, base + 2, base + 4]);
  const r = run1(nd("reduceSum", "x", "y", { axes: [1n], keepDims: true }), { x });
  assert.deepEqual(r.shape, [2, 1, 2]);
  close(r.data as Float32Array, overAxis1.map(sum), "reduceSum");
  const mean = run1(nd("reduceMean", "x", "y", { axes: [-1n, 0n] }), { x });
  assert.deepEqual(mean.shape, [3]);
  close(
    mean.data as Float32Array,
    [0, 2, 4].map((k) => sum([k, k + 1, k + 6, k + 7]) / 4),
    "reduceMean",
  );
  const all = run1(nd("reduceMax", "x", "y", { reduceAll: true }), { x });
  assert.deepEqual(all.shape, [1]);
  close(all.data as Float32Array, [9], "reduceMax all");
  const cases: [Parameters<typeof nd>[0], (v: number[]) => number][] = [
    ["reduceProd", (v) => v.reduce((a, b) => a * b, 1)],
    ["reduceMin", (v) => Math.min(...v)],
    ["reduceL1", (v) => v.reduce((a, b) => a + Math.abs(b), 0)],
    ["reduceL2", (v) => Math.sqrt(v.reduce((a, b) => a + b * b, 0))],
    ["reduceSumSquare", (v) => v.reduce((a, b) => a + b * b, 0)],
    ["reduceLogSumExp", (v) => Math.log(v.reduce((a, b) => a + Math.exp(b), 0))],
  ];
  for (const [type, fn] of cases) {
    const out = run1(nd(type, "x", "y", { axes: [1n] } as never), { x });
    close(
      out.data as Float32Array,
      overAxis1.map((ids) => fn(ids.map((i) => x.values[i]))),
      type,
    );
  }
  const arg = run1(nd("argMax", "x", "y", { axis: -2n, removeDim: true }), { x });
  assert.deepEqual(arg.shape, [2, 2]);
  close(arg.data as Float32Array, [1, 2, 2, 2], "argMax");
  const argMin = run1(nd("argMin", "x", "y", { axis: 1n }), { x });
  assert.deepEqual(argMin.shape, [2, 1, 2]);
  close(argMin.data as Float32Array, [2, 0, 1, 1], "argMin");
  const spec = ndNetwork(
    { x: [2, 3, 2] },
    [nd("topK", "x", ["v", "i"], { axis: 1n, K: 2n })],
    ["v", "i"],
  );
  const top = runNetwork(spec, { x });
  assert.deepEqual(top.v.shape, [2, 2, 2]);
  close(top.v.data as Float32Array, [4, 9, 3, 1, 5, 8, 2, 6], "topK values");
  close(top.i.data as Float32Array, [1, 2, 0, 1, 2, 2, 0, 0], "topK indices");
  const bottom = runNetwork(
    ndNetwork(
      { x: [2, 3, 2], k: [1] },
      [nd("topK", ["x", "k"], ["v", "i"], { axis: 1n, useBottomK: true })],
      ["v"],
    ),
    { x, k: { shape: [1], values: [1] } },
  );
  close(bottom.v.data as Float32Array, [-5, -1, -5, 3], "bottom K from an input");
  const sorted = run1(nd("argSort", "x", "y", { axis: -1n, descending: true }), {
    x: { shape: [4], values: [1, 3, 2, 0] },
  });
  close(sorted.data as Float32Array, [1, 2, 0, 3], "argSort");
  const v: Values = { shape: [3], values: [4, 6, 7] };
  const sums = [
    [{}, [4, 10, 17]],
    [{ excludeFinalSum: true }, [0, 4, 10]],
    [{ reverse: true }, [17, 13, 7]],
    [{ excludeFinalSum: true, reverse: true }, [13, 7, 0]],
  ] as const;
  for (const [params, expected] of sums) {
    close(
      run1(nd("cumSum", "x", "y", params), { x: v }).data as Float32Array,
      expected,
      `cumSum ${JSON.stringify(params)}`,
    );
  }
});

test("batched matmul, embeddingND, layer normalization and inner products on ND blobs", () => {
  const a: Values = { shape: [2, 1, 2, 3], values: ramp(12, 0.5, -1) };
  const b: Values = { shape: [3, 3, 2], values: ramp(18, 0.25, -0.5) };
  const mm = run1(nd("batchedMatmul", ["a", "b"], "y"), { a, b });
  assert.deepEqual(mm.shape, [2, 3, 2, 2]);
  const expected = Array.from({ length: 24 }, (_, i) => {
    const [p, q, r, c] = unravel(i, [2, 3, 2, 2]);
    let s = 0;
    for (let k = 0; k < 3; k++) s += a.values[(p * 2 + r) * 3 + k] * b.values[(q * 3 + k) * 2 + c];
    return s;
  });
  close(mm.data as Float32Array, expected, "batchedMatmul");
  const vectors = run1(nd("batchedMatmul", ["a", "b"], "y", { transposeB: true }), {
    a: { shape: [3], values: [1, 2, 3] },
    b: { shape: [2, 3], values: [1, 0, 1, 0, 1, 0] },
  });
  assert.deepEqual(vectors.shape, [1, 2]);
  close(vectors.data as Float32Array, [4, 2], "a vector times a transposed matrix");
  // One input: the weights are stored [X1, X2] column by column, i.e. W[j, i] at j·X1 + i.
  const w = noise(6, 5);
  const bias = [0.5, -0.5];
  const single = run1(
    nd("batchedMatmul", "x", "y", {
      weightMatrixFirstDimension: 3n,
      weightMatrixSecondDimension: 2n,
      weights: floatWeights(w),
      hasBias: true,
      bias: floatWeights(bias),
    }),
    { x: { shape: [2, 3], values: [1, 2, 3, -1, 0, 1] } },
  );
  const rows = [
    [1, 2, 3],
    [-1, 0, 1],
  ];
  close(
    single.data as Float32Array,
    rows.flatMap((row) =>
      [0, 1].map((j) => row.reduce((s, v, i) => s + v * w[j * 3 + i], bias[j])),
    ),
    "batchedMatmul with weights",
  );
  const table = noise(8, 7); // [embeddingSize 2, vocabulary 4]
  const emb = run1(
    nd("embeddingND", "x", "y", { vocabSize: 4n, embeddingSize: 2n, weights: floatWeights(table) }),
    { x: { shape: [3, 1], values: [3, 0, 2] } },
  );
  assert.deepEqual(emb.shape, [3, 2]);
  close(
    emb.data as Float32Array,
    [3, 0, 2].flatMap((k) => [table[k], table[4 + k]]),
    "embeddingND",
  );
  const gamma = [1, 2, 0.5];
  const beta = [0, 1, -1];
  const ln = run1(
    nd("layerNormalization", "x", "y", {
      normalizedShape: [3n],
      eps: 1e-5,
      gamma: floatWeights(gamma),
      beta: floatWeights(beta),
    }),
    { x: a },
  );
  const normalized = Array.from({ length: 4 }, (_, r) => {
    const row = a.values.slice(r * 3, r * 3 + 3);
    const m = row.reduce((s, v) => s + v, 0) / 3;
    const variance = row.reduce((s, v) => s + (v - m) ** 2, 0) / 3;
    return row.map((v, k) => ((v - m) / Math.sqrt(variance + 1e-5)) * gamma[k] + beta[k]);
  }).flat();
  close(ln.data as Float32Array, normalized, "layerNormalization", 1e-4);
  // innerProduct on rank 3 multiplies the last axis.
  const ipw = noise(6, 9);
  const ip = run1(
    nd("innerProduct", "x", "y", {
      inputChannels: 3n,
      outputChannels: 2n,
      weights: floatWeights(ipw),
    }),
    { x: { shape: [2, 1, 3], values: [1, 2, 3, -1, 0, 1] } },
  );
  assert.deepEqual(ip.shape, [2, 1, 2]);
  close(
    ip.data as Float32Array,
    rows.flatMap((row) => [0, 1].map((j) => row.reduce((s, v, i) => s + v * ipw[j * 3 + i], 0))),
    "innerProduct rank 3",
  );
});

test("resampling, depth/space rearrangements and the remaining rank-5 layers", () => {
  const square: Values = { shape: [1, 1, 2, 2], values: [0, 1, 2, 3] };
  const corners = run1(
    nd("resizeBilinear", "x", "y", { targetSize: [3n, 3n], mode: { samplingMethod: 0 } }),
    { x: square },
  );
  assert.deepEqual(corners.shape, [1, 1, 3, 3]);
  close(corners.data as Float32Array, [0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3], "align endpoints");
  // UPSAMPLE_MODE samples numpy.linspace(0, 2 − 2/4, 4) = [0, 0.5, 1, 1.5], clamped to 1.
  const upsampled = run1(
    nd("resizeBilinear", "x", "y", { targetSize: [4n, 4n], mode: { samplingMethod: 2 } }),
    { x: square },
  );
  const grid = [0, 0.5, 1, 1];
  close(
    upsampled.data as Float32Array,
    grid.flatMap((r) => grid.map((c) => 2 * r + c)),
    "upsample grid",
  );
  const planes: Values = { shape: [1, 2, 2, 2], values: seq(8) };
  const toDepth = run1(nd("reorganizeData", "x", "y", { mode: 0, blockSize: 2n }), { x: planes });
  assert.deepEqual(toDepth.shape, [1, 8, 1, 1]);
  close(toDepth.data as Float32Array, [0, 4, 1, 5, 2, 6, 3, 7], "space to depth");
  const deep: Values = { shape: [1, 8, 1, 1], values: seq(8) };
  close(
    run1(nd("reorganizeData", "x", "y", { mode: 1, blockSize: 2n }), { x: deep })
      .data as Float32Array,
    [0, 2, 4, 6, 1, 3, 5, 7],
    "depth to space",
  );
  close(
    run1(nd("reorganizeData", "x", "y", { mode: 2, blockSize: 2n }), { x: deep })
      .data as Float32Array,
    seq(8),
    "pixel shuffle",
  );
  const a: Values = { shape: [3], values: [1, -2, 3] };
  const b: Values = { shape: [3], values: [0, 5, -4] };
  close(run1(nd("min", ["a", "b"], "y"), { a, b }).data as Float32Array, [0, -2, -4], "min");
  close(
    run1(nd("reduceLogSum", "x", "y", { axes: [0n] }), { x: { shape: [3], values: [1, 2, 3] } })
      .data as Float32Array,
    [Math.log(6)],
    "reduceLogSum",
  );
  const like = run1(nd("broadcastToLike", ["x", "l"], "y"), {
    x: { shape: [2, 1], values: [1, 2] },
    l: { shape: [2, 3], values: seq(6) },
  });
  close(like.data as Float32Array, [1, 1, 1, 2, 2, 2], "broadcastToLike");
  const repeated = run1(nd("sequenceRepeat", "x", "y", { nRepetitions: 3n }), {
    x: { shape: [1, 1, 2, 1, 1], values: [4, 5] },
  });
  assert.deepEqual(repeated.shape, [3, 1, 2, 1, 1]);
  close(repeated.data as Float32Array, [4, 5, 4, 5, 4, 5], "sequenceRepeat");
});

test("3-D convolution and pooling: a direct sum, and the specification's examples", () => {
  // The example: (1, 1, 2, 3, 3) holding 1..18.
  const cube: Values = { shape: [1, 1, 2, 3, 3], values: seq(18, 1) };
  const pooled = run1(
    nd("pooling3d", "x", "y", {
      type: 0,
      kernelDepth: 2,
      kernelHeight: 2,
      kernelWidth: 2,
      strideDepth: 1,
      strideHeight: 1,
      strideWidth: 1,
      paddingType: 1,
    }),
    { x: cube },
  );
  assert.deepEqual(pooled.shape, [1, 1, 1, 2, 2]);
  close(pooled.data as Float32Array, [14, 15, 17, 18], "max pooling");
  close(
    run1(nd("globalPooling3d", "x", "y", { type: 0 }), { x: cube }).data as Float32Array,
    [18],
    "global max",
  );
  close(
    run1(nd("globalPooling3d", "x", "y", { type: 1 }), { x: cube }).data as Float32Array,
    [9.5],
    "global average",
  );
  // Average over "same" padding (zeros counted): the corner window of a 2×2×2 kernel, stride 2.
  const averaged = run1(
    nd("pooling3d", "x", "y", {
      type: 1,
      kernelDepth: 2,
      kernelHeight: 2,
      kernelWidth: 2,
      strideDepth: 2,
      strideHeight: 2,
      strideWidth: 2,
      paddingType: 2,
    }),
    { x: cube },
  );
  assert.deepEqual(averaged.shape, [1, 1, 1, 2, 2]);
  // Depth 2, height 3 → 2 windows (the second reaching one row of padding), width likewise.
  close(
    averaged.data as Float32Array,
    [
      (1 + 2 + 4 + 5 + 10 + 11 + 13 + 14) / 8,
      (3 + 6 + 12 + 15) / 8,
      (7 + 8 + 16 + 17) / 8,
      (9 + 18) / 8,
    ],
    "average, same",
  );
  const [C, O, D, H, W, K] = [2, 3, 3, 4, 4, 2];
  const x = ramp(C * D * H * W, 0.25, -1);
  const w = noise(O * C * K * K * K, 4);
  const bias = [0.5, -0.5, 1];
  const conv = run1(
    nd("convolution3d", "x", "y", {
      outputChannels: O,
      inputChannels: C,
      nGroups: 1,
      kernelDepth: K,
      kernelHeight: K,
      kernelWidth: K,
      strideDepth: 1,
      strideHeight: 2,
      strideWidth: 1,
      dilationDepth: 1,
      dilationHeight: 1,
      dilationWidth: 2,
      hasBias: true,
      weights: floatWeights(w),
      bias: floatWeights(bias),
      paddingType: 0,
      customPaddingFront: 1,
      customPaddingLeft: 1,
    }),
    { x: { shape: [1, C, D, H, W], values: x } },
  );
  // Output: depth (3 + 1 − 2) + 1 = 3, height ⌊(4 − 2)/2⌋ + 1 = 2, width (4 + 1 − 3) + 1 = 3.
  assert.deepEqual(conv.shape, [1, O, 3, 2, 3]);
  const expected = Array.from({ length: O * 3 * 2 * 3 }, (_, i) => {
    const [o, od, oh, ow] = unravel(i, [O, 3, 2, 3]);
    let s = bias[o];
    for (let c = 0; c < C; c++)
      for (let a = 0; a < K; a++)
        for (let b = 0; b < K; b++)
          for (let e = 0; e < K; e++) {
            const [z, y, xx] = [od + a - 1, oh * 2 + b, ow + 2 * e - 1];
            if (z < 0 || z >= D || y >= H || xx < 0 || xx >= W) continue;
            s += x[((c * D + z) * H + y) * W + xx] * w[(((o * C + c) * K + a) * K + b) * K + e];
          }
    return s;
  });
  close(conv.data as Float32Array, expected, "convolution3d");
});

test("integer array inputs (indices) get integer random samples that an embedding can read", () => {
  const spec = ndNetwork(
    { ids: [4, 1] },
    [
      nd("embeddingND", "ids", "y", {
        vocabSize: 8n,
        embeddingSize: 2n,
        weights: floatWeights(noise(16, 3)),
      }),
    ],
    ["y"],
  );
  const feature = spec.description!.input[0].type!.Type;
  if (feature.case === "multiArrayType")
    feature.value.dataType = ArrayFeatureType_ArrayDataType.INT32;
  const interpreter = NeuralNetworkInterpreter.fromSpec(spec);
  assert.equal(interpreter.inputs[0].dtype, "int32");
  const [sample] = randomSamples(interpreter.inputs, 1, 4);
  assert.ok((sample.ids.data as Int32Array).every((v) => Number.isInteger(v) && v >= 0 && v < 8));
  assert.deepEqual(interpreter.predict(sample).y.shape, [4, 2]);
});

test("cropResize cuts boxes from each batch item (or the item a box names) and resamples them", () => {
  // Two items of one channel, value 4y + x + 100b: bilinear samples of it are exact.
  const map: Values = {
    shape: [1, 2, 1, 4, 4],
    values: Array.from({ length: 32 }, (_, i) => {
      const [b, y, x] = unravel(i, [2, 4, 4]);
      return 4 * y + x + 100 * b;
    }),
  };
  const at = (b: number, y: number, x: number) => 4 * y + x + 100 * b;
  const strict = run1(
    nd("cropResize", ["x", "r"], "y", { targetSize: [3n, 2n], mode: { samplingMethod: 0 } }),
    { x: map, r: { shape: [1, 1, 4, 1, 1], values: [1, 1, 3, 2] } },
  );
  assert.deepEqual(strict.shape, [1, 2, 1, 3, 2]);
  close(
    strict.data as Float32Array,
    [0, 1].flatMap((b) => [1, 2, 3].flatMap((y) => [1, 2].map((x) => at(b, y, x)))),
    "corners, every item",
  );
  // [batch, h_center, w_center, height, width], normalized by (size − 1) = 3, RoI-align grid.
  const chosen = run1(
    nd("cropResize", ["x", "r"], "y", {
      targetSize: [2n, 2n],
      normalizedCoordinates: true,
      mode: { samplingMethod: 3 },
      boxIndicesMode: { boxMode: 2 },
    }),
    { x: map, r: { shape: [1, 1, 5, 1, 1], values: [1, 0.5, 0.5, 2 / 3, 2 / 3] } },
  );
  assert.deepEqual(chosen.shape, [1, 1, 1, 2, 2]);
  // Box [0.5, 0.5] to [2.5, 2.5]: spacing 1, samples at 1 and 2.
  close(
    chosen.data as Float32Array,
    [at(1, 1, 1), at(1, 1, 2), at(1, 2, 1), at(1, 2, 2)],
    "roi align",
  );
  const middle = run1(
    nd("resizeBilinear", "x", "y", { targetSize: [1n, 1n], mode: { samplingMethod: 1 } }),
    { x: { shape: [1, 1, 2, 2], values: [0, 1, 2, 3] } },
  );
  close(middle.data as Float32Array, [1.5], "align endpoints, one sample: the middle");
});

test("non-maximum suppression keeps the best boxes, per class when asked, padding the rest", () => {
  // Centre and size: A and B overlap (IoU 0.9), C stands apart, D scores below the threshold.
  const boxes: Values = {
    shape: [1, 4, 4],
    values: [0, 0, 2, 2, 0.1, 0, 2, 2, 5, 5, 2, 2, 9, 9, 1, 1],
  };
  // Two classes: A and C are class 0, B is class 1.
  const scores: Values = { shape: [1, 4, 2], values: [0.9, 0.1, 0.2, 0.8, 0.7, 0.3, 0.05, 0.01] };
  const nms = (params: object, extra: Record<string, Values> = {}) =>
    runNetwork(
      ndNetwork(
        {
          boxes: [1, 4, 4],
          scores: [1, 4, 2],
          ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, v.shape])),
        },
        [
          nd(
            "NonMaximumSuppression",
            ["boxes", "scores", ...Object.keys(extra)],
            ["kept", "keptScores", "indices", "count"],
            {
              iouThreshold: 0.5,
              scoreThreshold: 0.1,
              maxBoxes: 3n,
              ...params,
            },
          ),
        ],
        ["kept", "keptScores", "indices", "count"],
      ),
      { boxes, scores, ...extra },
    );
  const all = nms({});
  assert.deepEqual(all.kept.shape, [1, 3, 4]);
  close(all.indices.data as Float32Array, [0, 2, -1], "indices");
  close(all.count.data as Float32Array, [2], "count");
  close(all.kept.data as Float32Array, [0, 0, 2, 2, 5, 5, 2, 2, 0, 0, 0, 0], "boxes, zero padded");
  close(all.keptScores.data as Float32Array, [0.9, 0.1, 0.7, 0.3, 0, 0], "scores");
  close(nms({ perClassSuppression: true }).indices.data as Float32Array, [0, 1, 2], "per class");
  // Thresholds from inputs; nothing scoring enough leaves the best box alone.
  const none = nms(
    {},
    { iou: { shape: [1], values: [0.5] }, threshold: { shape: [1], values: [0.95] } },
  );
  close(none.count.data as Float32Array, [1], "the best box when none survives");
  close(none.indices.data as Float32Array, [0, -1, -1], "its index");
});
