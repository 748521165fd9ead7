/**
 * The interpreter's fast kernels (SIMD products and depthwise convolutions, fused clamps, the
 * arena) against its plain JavaScript kernels (`reference: true`) on programs of odd shapes:
 * convolutions of every kind, linear layers, matrix products, clips after them, fp16.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { TaskName } from "../../src/parallel/tasks.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { floatToHalfArray } from "../../src/kernels/fp16.js";
import { HeapFullError, SimdHeap } from "../../src/kernels/simd/heap.js";
import { SERVE_TASK } from "../../src/kernels/simd/team.js";
import type { MLModel } from "../../src/format/model.js";
import { WorkerPool } from "../../src/parallel/pool.js";
import {
  buildModel,
  type ConvOptions,
  type ProgramBuilder,
  type Var,
} from "../../src/program/builder.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { randomSamples } from "../../src/runtime/inputs.js";

function noise(shape: number[], seed: number, scale = 1): Tensor {
  let state = seed >>> 0 || 1;
  const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state / 2 ** 31 - 1) * scale;
  });
  return { dtype: "fp32", shape, data };
}

/** Outputs of the fast and the reference interpreter on the same seeded inputs. */
async function bothWays(model: MLModel, options: { pool?: WorkerPool } = {}) {
  const fast = await Interpreter.load(model, options);
  const reference = await Interpreter.load(model, { reference: true });
  const inputs = randomSamples(fast.inputs, 1, 7)[0];
  return { fast: fast.predict(inputs), reference: reference.predict(inputs) };
}

function assertClose(got: Record<string, Tensor>, want: Record<string, Tensor>, tolerance: number) {
  assert.deepEqual(Object.keys(got), Object.keys(want));
  for (const [name, tensor] of Object.entries(want)) {
    assert.deepEqual(got[name].shape, tensor.shape, name);
    const [a, b] = [got[name].data as Float32Array, tensor.data as Float32Array];
    let scale = 0;
    for (const v of b) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < b.length; i++) {
      if (!(Math.abs(a[i] - b[i]) <= tolerance * Math.max(scale, 1))) {
        assert.fail(`${name}[${i}] is ${a[i]}, the reference ${b[i]}`);
      }
    }
  }
}

/** Builds an fp32 program of the ops `define` adds to one input of `shape`. */
function program(
  shape: number[],
  define: (b: ProgramBuilder, x: Var, weight: (shape: number[]) => Promise<Var>) => Promise<void>,
  dtype: "fp32" | "fp16" = "fp32",
): Promise<MLModel> {
  let seed = 100;
  return buildModel("iOS17", async (b) => {
    const x = b.input("x", dtype, shape);
    const weight = (s: number[]) => {
      const t = noise(s, seed++, 0.5);
      return b.constant(
        "w",
        dtype === "fp16"
          ? { ...t, dtype: "fp16", data: floatToHalfArray(t.data as Float32Array) }
          : t,
      );
    };
    await define(b, x, weight);
  });
}

const CONVS: [string, number[], number[], ConvOptions][] = [
  ["3×3 same (Winograd, odd sizes)", [1, 5, 9, 11], [7, 5, 3, 3], { padType: "same" }],
  [
    "3×3 custom pads, batch 2 (Winograd, even sizes)",
    [2, 9, 12, 16],
    [12, 9, 3, 3],
    { padType: "custom", pad: [2, 0, 0, 1] },
  ],
  ["3×3 small (direct)", [1, 4, 6, 6], [5, 4, 3, 3], { padType: "same" }],
  [
    "3×3 stride 2 custom pads",
    [2, 3, 17, 13],
    [6, 3, 3, 3],
    { strides: [2, 2], padType: "custom", pad: [1, 0, 2, 1] },
  ],
  ["5×3 dilated", [1, 4, 15, 14], [5, 4, 5, 3], { dilations: [2, 3], padType: "valid" }],
  ["1×1", [1, 13, 6, 7], [9, 13, 1, 1], {}],
  // Small planes, multiplied transposed: whole tiles, and partial ones both ways.
  ["1×1 on 7 × 7, batch 2", [2, 11, 7, 7], [24, 11, 1, 1], {}],
  ["1×1 on 3 × 3", [1, 10, 3, 3], [28, 10, 1, 1], {}],
  ["1×1 stride 2", [1, 8, 9, 9], [3, 8, 1, 1], { strides: [2, 2] }],
  ["grouped", [1, 6, 8, 8], [9, 2, 3, 3], { groups: 3, padType: "same" }],
  ["depthwise 3×3", [2, 5, 11, 10], [5, 1, 3, 3], { groups: 5, padType: "same" }],
  // Rows of 7 (the last four overlap the first) and of 3 (one output at a time).
  ["depthwise 3×3, rows of 7", [1, 6, 7, 7], [6, 1, 3, 3], { groups: 6, padType: "same" }],
  ["depthwise 3×3, rows of 3", [1, 3, 9, 3], [3, 1, 3, 3], { groups: 3, padType: "same" }],
  // Read in place (one zero all round, rows of five or more): one and two rows (both
  // neighbours the zero row), rows of 5 (no middle vector) to 9 (the middle one overlapping).
  ["depthwise 3×3, one row of 5", [1, 4, 1, 5], [4, 1, 3, 3], { groups: 4, padType: "same" }],
  ["depthwise 3×3, two rows of 6", [1, 3, 2, 6], [3, 1, 3, 3], { groups: 3, padType: "same" }],
  ["depthwise 3×3, rows of 8", [1, 2, 3, 8], [2, 1, 3, 3], { groups: 2, padType: "same" }],
  ["depthwise 3×3, batch 2, rows of 9", [2, 3, 5, 9], [3, 1, 3, 3], { groups: 3, padType: "same" }],
  [
    "depthwise 3×3 stride 2",
    [1, 7, 13, 12],
    [7, 1, 3, 3],
    { groups: 7, strides: [2, 2], padType: "custom", pad: [1, 1, 1, 1] },
  ],
  // Stride 2 read in place (one zero above and left, none read below or right): rows of 7
  // outputs (the last four overlapping), of 8, and of 4.
  [
    "depthwise 3×3 stride 2, batch 2, 14 × 14",
    [2, 3, 14, 14],
    [3, 1, 3, 3],
    { groups: 3, strides: [2, 2], padType: "custom", pad: [1, 1, 1, 1] },
  ],
  [
    "depthwise 3×3 stride 2, 6 × 17",
    [1, 2, 6, 17],
    [2, 1, 3, 3],
    { groups: 2, strides: [2, 2], padType: "custom", pad: [1, 1, 1, 0] },
  ],
  [
    "depthwise 3×3 stride 2, 9 × 8",
    [1, 2, 9, 8],
    [2, 1, 3, 3],
    { groups: 2, strides: [2, 2], padType: "custom", pad: [1, 0, 1, 1] },
  ],
  [
    "depthwise 5×5 stride 3",
    [1, 3, 16, 19],
    [3, 1, 5, 5],
    { groups: 3, strides: [3, 3], padType: "same" },
  ],
  [
    "depthwise 3×3 dilated",
    [1, 4, 12, 9],
    [4, 1, 3, 3],
    { groups: 4, dilations: [2, 2], padType: "same" },
  ],
];

for (const [name, shape, weightShape, options] of CONVS) {
  test(`conv ${name}: fast kernels match the reference, with bias, ReLU6 fused`, async () => {
    const model = await program(shape, async (b, x, weight) => {
      const bias = await weight([weightShape[0]]);
      const y = b.conv(x, await weight(weightShape), { ...options, bias });
      b.output(y);
      const clipped = b.conv(x, await weight(weightShape), { ...options, bias }, "clipped");
      const alpha = await b.constant("alpha", {
        dtype: "fp32",
        shape: [],
        data: Float32Array.of(0),
      });
      const beta = await b.constant("beta", {
        dtype: "fp32",
        shape: [],
        data: Float32Array.of(0.2),
      });
      b.output(
        b.op(
          "clip",
          "clip",
          { x: clipped.name, alpha: alpha.name, beta: beta.name },
          "fp32",
          clipped.shape,
        ),
      );
    });
    const { fast, reference } = await bothWays(model);
    assertClose(fast, reference, 1e-5);
  });
}

/**
 * Depthwise convolutions on large planes of odd sizes (3 × 3 read in place or from padded
 * copies, 5 × 5), shared out on two threads (which claim chunks from both ends of the job):
 * as the reference, and the same bits on one and two threads.
 */
const LARGE_DEPTHWISE: [string, number[], number[], ConvOptions][] = [
  ["rows of 21", [1, 5, 19, 21], [3, 3], { padType: "same" }],
  ["61 rows of 5, batch 2", [2, 3, 61, 5], [3, 3], { padType: "same" }],
  [
    "stride 2, 37 × 35 (padded copies)",
    [1, 4, 37, 35],
    [3, 3],
    { strides: [2, 2], padType: "custom", pad: [1, 1, 1, 1] },
  ],
  [
    "stride 2, zeros above and left only",
    [1, 3, 40, 36],
    [3, 3],
    { strides: [2, 2], padType: "custom", pad: [1, 0, 1, 0] },
  ],
  ["zeros above and left only", [1, 3, 23, 19], [3, 3], { padType: "custom", pad: [1, 0, 1, 0] }],
  ["5 × 5", [1, 3, 20, 20], [5, 5], { padType: "same" }],
];

/** The model's outputs on two threads (the worker serving), for a seeded random input. */
async function onTwoThreads(model: Parameters<typeof Interpreter.load>[0]) {
  const pool = new WorkerPool(1);
  try {
    const interpreter = await Interpreter.load(model, { pool });
    const inputs = randomSamples(interpreter.inputs, 1, 7)[0];
    interpreter.predict(inputs);
    // The worker serves once this thread's event loop has run.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return interpreter.predict(inputs);
  } finally {
    await pool.close();
  }
}

for (const [name, shape, kernel, options] of LARGE_DEPTHWISE) {
  test(`depthwise ${name}: as the reference, one and two threads alike`, async () => {
    const channels = shape[1];
    const model = await program(shape, async (b, x, weight) => {
      const bias = await weight([channels]);
      const filters = await weight([channels, 1, ...kernel]);
      b.output(b.conv(x, filters, { ...options, groups: channels, bias }));
    });
    // Two threads first: an output they left unwritten would not hold the one thread's values.
    const shared = await onTwoThreads(model);
    const { fast, reference } = await bothWays(model);
    assertClose(fast, reference, 1e-5);
    assert.deepEqual(shared, fast);
  });
}

/**
 * 1 × 1 convolutions on small planes (multiplied transposed) with inputs large enough that both
 * threads pack them, each a group of panels (the last one partial): as the reference, and the
 * same bits on one and two threads. On a large plane, where the input's channels lie more than a
 * page apart, the direct product packs each chunk's columns instead of reading them in place.
 */
const PACKED_BY_BOTH: [string, number[], number[]][] = [
  ["700 channels of 7 × 7", [1, 700, 7, 7], [24, 700, 1, 1]],
  ["240 channels of 13 × 11, batch 2", [2, 240, 13, 11], [40, 240, 1, 1]],
  ["9 channels of 37 × 33 (rows a page apart)", [1, 9, 37, 33], [21, 9, 1, 1]],
];

for (const [name, shape, weightShape] of PACKED_BY_BOTH) {
  test(`conv 1×1 on ${name}: as the reference, one and two threads alike`, async () => {
    const model = await program(shape, async (b, x, weight) => {
      b.output(b.conv(x, await weight(weightShape), { bias: await weight([weightShape[0]]) }));
    });
    const shared = await onTwoThreads(model);
    const { fast, reference } = await bothWays(model);
    assertClose(fast, reference, 1e-5);
    assert.deepEqual(shared, fast);
  });
}

/** Convolutions of every kernel path whose output an add reads alone (a residual connection). */
const RESIDUAL_CONVS: [string, number[], number[], ConvOptions][] = [
  ["Winograd", [1, 5, 9, 11], [7, 5, 3, 3], { padType: "same" }],
  ["direct 3×3, partial tiles", [1, 4, 6, 6], [5, 4, 3, 3], { padType: "same" }],
  ["1×1 on a large plane", [1, 6, 19, 21], [13, 6, 1, 1], {}],
  ["1×1 on 7 × 7, batch 2 (transposed)", [2, 11, 7, 7], [26, 11, 1, 1], {}],
  ["3×3 stride 2 (transposed patches)", [1, 3, 17, 13], [10, 3, 3, 3], { strides: [2, 2] }],
  ["grouped", [1, 6, 8, 8], [9, 2, 3, 3], { groups: 3, padType: "same" }],
  ["depthwise", [2, 5, 11, 10], [5, 1, 3, 3], { groups: 5, padType: "same" }],
];

for (const [name, shape, weightShape, options] of RESIDUAL_CONVS) {
  test(`conv ${name} with the add reading it fused: as unfused, on one and two threads`, async () => {
    const model = await program(shape, async (b, x, weight) => {
      const conv = async (label: string) =>
        b.conv(
          x,
          await weight(weightShape),
          { ...options, bias: await weight([weightShape[0]]) },
          label,
        );
      const skip = await conv("skip");
      b.output(b.binary("add", await conv("conv"), skip, "sum"));
      // The residual first, a ReLU after the add, and a residual broadcast along the planes.
      b.output(b.unary("relu", b.binary("add", skip, await conv("conv_relu"), "sum_relu")));
      const perChannel = await weight([weightShape[0], 1, 1]);
      b.output(b.binary("add", await conv("conv_broadcast"), perChannel, "broadcast"));
    });
    await assertFusedAsUnfused(model);
  });
}

/**
 * The fast path agrees with the reference, and fused ops give the same bits as unfused ones
 * (observers turn fusion off) and as on two threads.
 */
async function assertFusedAsUnfused(model: MLModel): Promise<void> {
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 1e-5);
  const interpreter = await Interpreter.load(model);
  const inputs = randomSamples(interpreter.inputs, 1, 7)[0];
  // Observers turn fusion off: the same bits either way.
  assert.deepEqual(interpreter.predict(inputs, { observe: () => {} }), fast);
  const pool = new WorkerPool(1);
  try {
    const shared = await Interpreter.load(model, { pool });
    shared.predict(inputs);
    assert.deepEqual(shared.predict(inputs), fast);
  } finally {
    await pool.close();
  }
}

test("linear layers with the add reading them fused: as unfused, on one and two threads", async () => {
  const model = await program([2, 9, 37], async (b, x, weight) => {
    b.output(b.binary("add", b.linear(x, await weight([37, 37]), await weight([37])), x, "sum"));
    const inner = b.linear(x, await weight([37, 37]), undefined, "inner");
    b.output(b.unary("relu", b.binary("add", x, inner, "sum_relu")));
    const narrow = b.linear(x, await weight([5, 37]), await weight([5]), "narrow");
    b.output(b.binary("add", narrow, await weight([5]), "broadcast"));
  });
  await assertFusedAsUnfused(model);
});

test("linear (2-D and 3-D, with and without bias), ReLU fused into it and into add, a 1-D conv", async () => {
  const model = await program([2, 9, 37], async (b, x, weight) => {
    b.output(b.linear(x, await weight([29, 37]), await weight([29])));
    b.output(b.unary("relu", b.linear(x, await weight([5, 37]), undefined, "unbiased")));
    const flat = b.reshape(x, [18, 37]);
    b.output(b.linear(flat, await weight([70, 37]), await weight([70]), "flat"));
    b.output(
      b.conv(b.reshape(x, [2, 9, 37], "as_1d"), await weight([4, 9, 3]), { padType: "same" }),
    );
    b.output(b.unary("relu", b.binary("add", x, await weight([37]))));
  });
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 1e-5);
});

test("exact GELU in float32 stays within 1e-6 of the float64 reference, on an odd size", async () => {
  // x spread over [−16, 16] (the seeded inputs are in [−1, 1]): both branches of erf, the tail
  // where GELU is 0, and the last, partial vector.
  const model = await program([2, 3, 11, 9], async (b, x) => {
    b.output(b.gelu(x));
    const spread = await b.constant("spread", {
      dtype: "fp32",
      shape: [],
      data: Float32Array.of(16),
    });
    b.output(b.gelu(b.binary("mul", x, spread), "EXACT", "spread_gelu"));
  });
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 1e-6);
});

test("ReLU and max pooling (padding, strides, ceil mode) match the reference bit for bit", async () => {
  const model = await program([2, 3, 11, 9], async (b, x) => {
    b.output(b.unary("relu", x));
    const ints = (name: string, values: number[]) =>
      b.constant(name, { dtype: "int32", shape: [values.length], data: Int32Array.from(values) });
    const string = (name: string, value: string) =>
      b.constant(name, { dtype: "string", shape: [], data: [value] });
    const flag = (name: string, value: boolean) =>
      b.constant(name, { dtype: "bool", shape: [], data: Uint8Array.of(value ? 1 : 0) });
    for (const [kernel, stride, pad, ceil] of [
      [3, 2, [1, 1, 1, 1], false],
      [2, 2, [0, 0, 0, 0], true],
      [3, 1, [2, 0, 1, 2], false],
    ] as const) {
      const name = `pool_${kernel}_${stride}_${ceil}`;
      const inputs = {
        x: x.name,
        kernel_sizes: (await ints(`${name}_k`, [kernel, kernel])).name,
        strides: (await ints(`${name}_s`, [stride, stride])).name,
        pad_type: (await string(`${name}_t`, "custom")).name,
        pad: (await ints(`${name}_p`, [...pad])).name,
        ceil_mode: (await flag(`${name}_c`, ceil)).name,
      };
      const size = (n: number, before: number, after: number) =>
        (ceil ? Math.ceil : Math.floor)((n + before + after - kernel) / stride) + 1;
      const shape = [2, 3, size(11, pad[0], pad[1]), size(9, pad[2], pad[3])];
      b.output(b.op("max_pool", name, inputs, "fp32", shape));
    }
  });
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 0);
});

test("arithmetic with whole, single and repeating operands matches the reference bit for bit", async () => {
  const model = await program([2, 3, 8], async (b, x, weight) => {
    b.output(b.binary("add", x, await weight([8])));
    b.output(b.binary("sub", await weight([3, 8]), x));
    b.output(b.binary("mul", x, await weight([])));
    b.output(b.binary("real_div", x, b.binary("add", x, await weight([2, 3, 8]), "shifted")));
    b.output(b.binary("mul", x, await weight([3, 1]), "columns"));
  });
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 0);
});

test("select with computed, constant, single and repeating operands matches the reference bit for bit", async () => {
  const model = await program([2, 3, 8], async (b, x, weight) => {
    const select = (name: string, cond: Var, a: Var, y: Var) =>
      b.op("select", name, { cond: cond.name, a: a.name, b: y.name }, "fp32", [2, 3, 8]);
    const positive = b.binary("greater_equal", x, await weight([]), "positive");
    // A causal mask's shape: a constant condition repeating over the leading axis.
    const mask = await weight([3, 8]);
    b.output(select("masked", mask, await weight([]), x));
    b.output(select("computed", positive, x, await weight([8])));
    b.output(select("single", await weight([]), x, await weight([2, 3, 8])));
    // Rows of 3: not whole vectors, the plain kernel's case.
    b.output(select("odd", await weight([3, 1]), x, await weight([])));
  });
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 0);
});

test("transpose with contiguous, strided and merged rows of odd sizes matches the reference bit for bit", async () => {
  const model = await program([2, 5, 3, 7], async (b, x) => {
    b.output(b.transpose(x, [0, 2, 1, 3], "rows"));
    b.output(b.transpose(x, [3, 1, 0, 2], "columns"));
    b.output(b.transpose(x, [0, 1, 2, 3], "same"));
    b.output(b.transpose(x, [2, 3, 0, 1], "blocks"));
    const wide = b.reshape(x, [2, 5, 21], "wide");
    b.output(b.transpose(wide, [1, 0, 2], "wide_rows"));
  });
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 0);
});

test("sums and means over trailing axes (global pooling) match the reference bit for bit", async () => {
  const model = await program([2, 5, 3, 7], async (b, x) => {
    b.output(b.reduceMean(x, [2, 3], true, "pooled"));
    b.output(b.reduceMean(x, [-1], false, "rows"));
    b.output(b.reduceMean(x, [3, 1, 2], false, "unsorted"));
    // Not trailing: the plain kernel.
    b.output(b.reduceMean(x, [1], false, "middle"));
    const axes = await b.constant("sum_axes", {
      dtype: "int32",
      shape: [2],
      data: Int32Array.of(-2, -1),
    });
    b.output(b.op("reduce_sum", "sum", { x: x.name, axes: axes.name }, "fp32", [2, 5]));
  });
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 0);
});

test("global means shared out on two threads: the reference's bits, one and two threads alike", async () => {
  const model = await program([2, 203, 9, 7], async (b, x) => {
    b.output(b.reduceMean(x, [2, 3], false, "pooled"));
  });
  const pool = new WorkerPool(1);
  let shared;
  try {
    const interpreter = await Interpreter.load(model, { pool });
    const inputs = randomSamples(interpreter.inputs, 1, 7)[0];
    interpreter.predict(inputs);
    await new Promise((resolve) => setTimeout(resolve, 50));
    shared = interpreter.predict(inputs);
  } finally {
    await pool.close();
  }
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 0);
  assert.deepEqual(shared, fast);
});

test("softmax and layer norm over rows match the reference", async () => {
  const model = await program([3, 5, 24], async (b, x, weight) => {
    const scaled = b.binary("mul", x, await weight([]));
    b.output(b.softmax(scaled));
    b.output(b.softmax(x, 1, "softmax_middle"));
    b.output(b.layerNorm(x, await weight([24]), await weight([24])));
  });
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 1e-6);
});

test("matmul with transposes, broadcast batches and vectors", async () => {
  const model = await program([3, 1, 7, 12], async (b, x, weight) => {
    const y = await weight([2, 12, 9]);
    b.output(b.matmul(x, y));
    b.output(b.matmul(x, x, false, true, "gram"));
    b.output(b.matmul(x, x, true, false, "outer"));
    b.output(b.matmul(x, await weight([12]), false, false, "vector"));
    b.output(b.matmul(await weight([7]), x, false, false, "row"));
  });
  const { fast, reference } = await bothWays(model);
  assertClose(fast, reference, 1e-5);
});

test("fp16 programs round the fast kernels' outputs as the reference's", async () => {
  const model = await program(
    [1, 6, 10, 10],
    async (b, x, weight) => {
      const y = b.conv(x, await weight([8, 6, 3, 3]), { padType: "same", bias: await weight([8]) });
      const z = b.conv(b.unary("relu", y), await weight([8, 1, 3, 3]), {
        groups: 8,
        padType: "same",
      });
      b.output(b.linear(b.reshape(z, [8, 100]), await weight([16, 100])));
      b.output(b.binary("add", b.conv(z, await weight([8, 8, 1, 1]), {}, "pointwise"), y));
    },
    "fp16",
  );
  const { fast, reference } = await bothWays(model);
  // One fp16 rounding step apart at most where the sums differ in their last float bits.
  assertClose(fast, reference, 2e-3);
  // The pointwise conv's output is rounded before the add: not fused, as with an observer.
  const interpreter = await Interpreter.load(model);
  const inputs = randomSamples(interpreter.inputs, 1, 7)[0];
  assert.deepEqual(interpreter.predict(inputs, { observe: () => {} }), fast);
});

test("observers see every value, also those of fused ops, with unchanged outputs", async () => {
  const model = await program([1, 3, 8, 8], async (b, x, weight) => {
    b.output(b.unary("relu", b.conv(x, await weight([4, 3, 3, 3]), { padType: "same" })));
  });
  const interpreter = await Interpreter.load(model);
  const inputs = randomSamples(interpreter.inputs, 1, 3)[0];
  const seen: string[] = [];
  const observed = interpreter.predict(inputs, { observe: (name) => seen.push(name) });
  assert.deepEqual(seen, ["conv", "relu"]);
  assert.deepEqual(observed, interpreter.predict(inputs));
});

test("predictions run again allocate nothing new, with the same results", async () => {
  const model = await program([1, 8, 20, 20], async (b, x, weight) => {
    let y = b.conv(x, await weight([16, 8, 3, 3]), { padType: "same" });
    y = b.unary("relu", y);
    y = b.conv(y, await weight([16, 1, 3, 3]), { groups: 16, padType: "same" }, "depthwise");
    y = b.binary("add", y, b.conv(x, await weight([16, 8, 1, 1]), {}, "shortcut"));
    b.output(b.linear(b.reshape(y, [16, 400]), await weight([10, 400])));
  });
  const interpreter = await Interpreter.load(model);
  const inputs = randomSamples(interpreter.inputs, 1, 5)[0];
  const first = interpreter.predict(inputs);
  const heap = (interpreter as unknown as { simd: { heap: { used: number } } }).simd.heap;
  const used = heap.used;
  for (let run = 0; run < 3; run++) assert.deepEqual(interpreter.predict(inputs), first);
  assert.equal(heap.used, used);
});

test("when the heap cannot grow, the ops left run on the plain kernels", async () => {
  const model = await program([1, 6, 12, 12], async (b, x, weight) => {
    const y = b.conv(x, await weight([8, 6, 3, 3]), { padType: "same" });
    const z = b.conv(y, await weight([8, 1, 3, 3]), { groups: 8, padType: "same" }, "depthwise");
    b.output(b.linear(b.reshape(z, [8, 144]), await weight([5, 144])));
  });
  const interpreter = await Interpreter.load(model);
  const reference = await Interpreter.load(model, { reference: true });
  const inputs = randomSamples(interpreter.inputs, 1, 4)[0];
  const heap = (interpreter as unknown as { simd: { heap: SimdHeap } }).simd.heap;
  let left = 4;
  heap.allocate = function (this: SimdHeap, bytes: number, reuse?: boolean) {
    if (left-- <= 0) throw new HeapFullError(bytes);
    return SimdHeap.prototype.allocate.call(this, bytes, reuse);
  };
  try {
    assertClose(interpreter.predict(inputs), reference.predict(inputs), 1e-5);
    assert.ok(left < 0, "the heap refused a block");
    assertClose(interpreter.predict(inputs), reference.predict(inputs), 1e-5);
  } finally {
    delete (heap as { allocate?: unknown }).allocate;
  }
});

test("worker threads give the same outputs as the calling thread alone", async () => {
  const model = await program([1, 16, 30, 30], async (b, x, weight) => {
    const y = b.conv(x, await weight([66, 16, 3, 3]), { padType: "same" });
    b.output(b.conv(y, await weight([66, 1, 3, 3]), { groups: 66, padType: "same" }, "depthwise"));
    b.output(b.linear(b.reshape(y, [66, 900]), await weight([70, 900])));
  });
  const alone = await Interpreter.load(model);
  const inputs = randomSamples(alone.inputs, 1, 9)[0];
  const want = alone.predict(inputs);
  const pool = new WorkerPool(1);
  let served = 0;
  const run = pool.run.bind(pool);
  pool.run = <T>(task: TaskName, payload: unknown) => {
    if (task === SERVE_TASK) served++;
    return run<T>(task, payload);
  };
  try {
    const shared = await Interpreter.load(model, { pool });
    shared.predict(inputs);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(shared.predict(inputs), want);
    assert.ok(served > 0, "the worker was asked to serve");
  } finally {
    await pool.close();
  }
});
