import assert from "node:assert/strict";
import { test } from "node:test";
import type { Operation } from "../../src/format/gen/MIL_pb.js";
import type { MLModel } from "../../src/format/model.js";
import { compressWithCalibration } from "../../src/calibrate/data-aware.js";
import { collectInputStatistics } from "../../src/calibrate/statistics.js";
import {
  linearQuantizerConfig,
  type LinearQuantizerOptions,
} from "../../src/config/linear-quantizer.js";
import type { OpConfig, OptimizationConfig } from "../../src/config/optimization-config.js";
import { palettizerConfig } from "../../src/config/palettizer.js";
import { ConfigError } from "../../src/errors.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { clusteringError } from "../../src/kernels/palettize/kmeans1d.js";
import { compressModel } from "../../src/passes/registry.js";
import { buildModel } from "../../src/program/builder.js";
import { opName } from "../../src/program/ops.js";
import { readTensorValue } from "../../src/program/values.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { referenceGptq } from "../support/gptq-reference.js";

function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
}

function tensor(shape: number[], seed: number, scale = (_: number) => 1): Tensor {
  const next = random(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const last = shape[shape.length - 1];
  return {
    dtype: "fp32",
    shape,
    data: Float32Array.from({ length: size }, (_, i) => next() * scale(i % last)),
  };
}

function opsOf(model: MLModel): Operation[] {
  if (model.spec.Type.case !== "mlProgram") throw new Error("not a program");
  const fn = model.spec.Type.value.functions.main;
  return fn.blockSpecializations[fn.opset].operations;
}

/** Σ over vectors of x xᵀ, vectors given by `vector(v, c)`. */
function gram(columns: number, count: number, vector: (v: number, c: number) => number) {
  const g = new Float64Array(columns * columns);
  for (let v = 0; v < count; v++) {
    for (let i = 0; i < columns; i++) {
      for (let j = 0; j < columns; j++) g[i * columns + j] += vector(v, i) * vector(v, j);
    }
  }
  return g;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string) {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 1e-9 * (1 + Math.abs(expected[i]));
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tolerance,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

test("statistics are the Gram matrices of what each weight multiplies", async () => {
  const model = await buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp32", [3, 12]);
    const img = b.input("img", "fp32", [1, 4, 5, 5]);
    const ids = b.input("ids", "int32", [6]);
    const fc = await b.constant("fc_w", tensor([8, 12], 1));
    const mmT = await b.constant("mm_t", tensor([6, 12], 2));
    const mm = await b.constant("mm_w", tensor([12, 5], 3));
    const conv = await b.constant("conv_w", tensor([6, 2, 3, 3], 4));
    const table = await b.constant("table", tensor([10, 4], 5));
    b.output(b.linear(x, fc, undefined, "fc"));
    b.output(b.matmul(x, mmT, false, true, "mm_t_op"));
    b.output(b.matmul(x, mm, false, false, "mm_op"));
    b.output(b.conv(img, conv, { groups: 2, strides: [2, 2], padType: "same" }, "conv"));
    b.output(b.gather(table, ids, 0, "emb"));
  });
  const samples = [0, 1, 2].map((s) => ({
    x: tensor([3, 12], 10 + s),
    img: tensor([1, 4, 5, 5], 20 + s),
    ids: { dtype: "int32", shape: [6], data: Int32Array.from([1, 3, 3, 9, -1, 0 + s]) } as Tensor,
  }));
  const table = await collectInputStatistics(model, samples, { gram: true });
  const stats = (name: string) => table.statistics("main", name)!;

  // linear and both matmuls multiply the rows of x: one Gram matrix, summed once per sample.
  const xRow = (v: number, c: number) =>
    (samples[Math.floor(v / 3)].x.data as Float32Array)[(v % 3) * 12 + c];
  const xGram = gram(12, 9, xRow);
  for (const [name, axes] of [
    ["fc_w", [1]],
    ["mm_t", [1]],
    ["mm_w", [0]],
  ] as const) {
    assert.deepEqual(stats(name).inputAxes, axes, name);
    assert.equal(stats(name).vectors, 9, name);
    assertClose(stats(name).gram!, xGram, name);
  }

  // conv: 3 × 3 output positions (same padding: 1 before and after, stride 2), per group.
  const conv = stats("conv_w");
  assert.deepEqual(
    [conv.groups, conv.columns, conv.vectors, conv.inputAxes],
    [2, 18, 27, [1, 2, 3]],
  );
  for (let g = 0; g < 2; g++) {
    const patch = (v: number, column: number) => {
      const image = samples[Math.floor(v / 9)].img.data as Float32Array;
      const [oy, ox] = [Math.floor((v % 9) / 3), v % 3];
      const [c, ky, kx] = [Math.floor(column / 9), Math.floor(column / 3) % 3, column % 3];
      const [iy, ix] = [oy * 2 - 1 + ky, ox * 2 - 1 + kx];
      return iy < 0 || iy >= 5 || ix < 0 || ix >= 5 ? 0 : image[(g * 2 + c) * 25 + iy * 5 + ix];
    };
    assertClose(
      conv.gram!.subarray(g * 324, (g + 1) * 324),
      gram(18, 27, patch),
      `conv group ${g}`,
    );
  }

  // gather: how often each table row is read (-1 is row 9; the last index is the sample's).
  const emb = stats("table");
  assert.equal(emb.gram, undefined);
  assert.deepEqual(Array.from(emb.diagonal), [1, 4, 1, 6, 0, 0, 0, 0, 0, 6]);
  await model.close();
});

/** x [16, 32] → linear (weights of varied scale per input) → y. */
function linearModel(): Promise<MLModel> {
  return buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp32", [16, 32]);
    const w = await b.constant("fc_w", tensor([16, 32], 7));
    b.output(b.linear(x, w, undefined, "fc"));
  });
}

/**
 * Inputs with channel energies spread over two orders of magnitude, correlated between
 * neighbouring channels (what GPTQ exploits) or independent (where the diagonal alone is the
 * whole story: sensitive k-means).
 */
function linearSamples(count: number, seed: number, correlated = true): Record<string, Tensor>[] {
  return Array.from({ length: count }, (_, s) => {
    const x = tensor([16, 32], seed + s, (c) => 0.1 * (1 + (c % 8)));
    const data = x.data as Float32Array;
    for (let r = 0; r < 16 && correlated; r++) {
      for (let c = 1; c < 32; c++) data[r * 32 + c] += 0.5 * data[r * 32 + c - 1];
    }
    return { x };
  });
}

async function outputError(model: MLModel, float: MLModel, samples: Record<string, Tensor>[]) {
  const [a, b] = await Promise.all([Interpreter.load(model), Interpreter.load(float)]);
  let error = 0;
  for (const sample of samples) {
    const out = Object.values(a.predict(sample))[0].data as Float32Array;
    const ref = Object.values(b.predict(sample))[0].data as Float32Array;
    for (let i = 0; i < out.length; i++) error += (out[i] - ref[i]) ** 2;
  }
  return error;
}

async function constexprTensors(
  model: MLModel,
): Promise<{ op: Operation; inputs: Record<string, Tensor> }> {
  const op = opsOf(model).find((o) => o.type.startsWith("constexpr_"))!;
  const inputs: Record<string, Tensor> = {};
  for (const [key, argument] of Object.entries(op.inputs)) {
    const binding = argument.arguments[0].binding;
    if (binding.case === "value") inputs[key] = await readTensorValue(binding.value, model, key);
  }
  return { op, inputs };
}

test("GPTQ on a linear layer: a direct float64 GPTQ's integers, stored and decoded as round-to-nearest", async () => {
  const model = await linearModel();
  const samples = linearSamples(4, 30);
  const weight = tensor([16, 32], 7);
  const hessian = gram(
    32,
    64,
    (v, c) => (samples[Math.floor(v / 16)].x.data as Float32Array)[(v % 16) * 32 + c],
  );
  const cases: [string, LinearQuantizerOptions, number, number][] = [
    ["int4 per channel", { dtype: "int4", granularity: "per_channel" }, -7, 7],
    ["int4 per block 8", { dtype: "int4", granularity: "per_block", blockSize: 8 }, -7, 7],
    ["uint8 affine per channel", { dtype: "uint8", mode: "linear" }, 0, 255],
  ];
  for (const [name, options, qMin, qMax] of cases) {
    const config = (algorithm?: "gptq"): OptimizationConfig => ({
      globalConfig: linearQuantizerConfig({
        ...options,
        weightThreshold: 0,
        ...(algorithm && { algorithm }),
      }),
    });
    const rtn = await compressModel(model, config());
    const gptq = await compressWithCalibration(model, config("gptq"), samples);
    const [r, g] = [await constexprTensors(rtn.model), await constexprTensors(gptq.model)];
    // The same op, reading tensors of the same dtypes and shapes.
    assert.equal(g.op.type, r.op.type, name);
    assert.deepEqual(Object.keys(g.inputs).sort(), Object.keys(r.inputs).sort(), name);
    for (const key of Object.keys(r.inputs)) {
      assert.equal(g.inputs[key].dtype, r.inputs[key].dtype, `${name} ${key}`);
      assert.deepEqual(g.inputs[key].shape, r.inputs[key].shape, `${name} ${key}`);
    }
    const blockSize = options.granularity === "per_block" ? 8 : 0;
    const signed = (options.dtype ?? "int8").startsWith("int");
    const expected = referenceGptq(
      Float64Array.from(weight.data as Float32Array),
      16,
      32,
      hessian,
      {
        mode: options.mode ?? "linear_symmetric",
        signed,
        qMin,
        qMax,
        rowBlock: 1,
        columnBlock: blockSize,
        round: Math.fround,
      },
      0.01,
      Array.from({ length: 32 }, (_, i) => i),
    );
    assert.deepEqual(Array.from(g.inputs.data.data as Int8Array), Array.from(expected), name);
    // Decoded by the runtime as any quantized weight; closer outputs on the calibration data.
    const [gptqError, rtnError] = [
      await outputError(gptq.model, model, samples),
      await outputError(rtn.model, model, samples),
    ];
    assert.ok(gptqError < rtnError, `${name}: GPTQ ${gptqError} vs RTN ${rtnError}`);
    assert.equal(gptq.weights[0].fallback, undefined);
    await Promise.all([rtn.model.close(), gptq.model.close()]);
  }
  await model.close();
});

test("sensitive k-means: the optimum of the activation-weighted problem, better outputs than plain", async () => {
  const model = await linearModel();
  const samples = linearSamples(4, 50, false);
  const statistics = await collectInputStatistics(model, samples);
  const energy = statistics.statistics("main", "fc_w")!.diagonal;
  const weight = Float64Array.from(tensor([16, 32], 7).data as Float32Array);
  const config = (algorithm?: "sensitive-kmeans"): OptimizationConfig<OpConfig> => ({
    globalConfig: palettizerConfig({
      nbits: 2,
      granularity: "per_grouped_channel",
      groupSize: 4,
      weightThreshold: 0,
      ...(algorithm && { algorithm }),
    }),
  });
  const sensitive = await compressWithCalibration(model, config("sensitive-kmeans"), samples);
  const plain = await compressModel(model, config());
  const { inputs } = await constexprTensors(sensitive.model);
  // Per group of 4 output channels: its table against brute force over the contiguous runs of
  // its sorted values (where every optimal 1-D clustering lies), weighted by input energy.
  const lut = inputs.lut.data as Float32Array;
  for (let group = 0; group < 4; group++) {
    const values = weight.slice(group * 128, (group + 1) * 128);
    const weights = Float64Array.from({ length: 128 }, (_, i) => energy[i % 32]);
    const order = [...values.keys()].sort((a, b) => values[a] - values[b]);
    const sorted = Float64Array.from(order, (i) => values[i]);
    const sortedWeights = Float64Array.from(order, (i) => weights[i]);
    // Weighted error of the run [i, j) about its weighted mean, from prefix sums.
    const [w, s, s2] = [new Float64Array(129), new Float64Array(129), new Float64Array(129)];
    for (let i = 0; i < 128; i++) {
      w[i + 1] = w[i] + sortedWeights[i];
      s[i + 1] = s[i] + sortedWeights[i] * sorted[i];
      s2[i + 1] = s2[i] + sortedWeights[i] * sorted[i] ** 2;
    }
    const run = (i: number, j: number) => s2[j] - s2[i] - (s[j] - s[i]) ** 2 / (w[j] - w[i]);
    let best = Infinity;
    for (let a = 1; a < 128; a++) {
      for (let b = a + 1; b < 128; b++) {
        for (let c = b + 1; c < 128; c++) {
          best = Math.min(best, run(0, a) + run(a, b) + run(b, c) + run(c, 128));
        }
      }
    }
    const table = Float64Array.from(lut.subarray(group * 4, group * 4 + 4));
    const nearest = Uint8Array.from(sorted, (v) => {
      let k = 0;
      for (let j = 1; j < 4; j++) if (Math.abs(v - table[j]) < Math.abs(v - table[k])) k = j;
      return k;
    });
    const error = clusteringError(sorted, sortedWeights, table, nearest);
    assert.ok(error <= best * (1 + 1e-5), `group ${group}: ${error} vs brute force ${best}`);
  }
  const [sensitiveError, plainError] = [
    await outputError(sensitive.model, model, samples),
    await outputError(plain.model, model, samples),
  ];
  assert.ok(sensitiveError < plainError, `sensitive ${sensitiveError} vs plain ${plainError}`);
  await Promise.all([sensitive.model.close(), plain.model.close(), model.close()]);
});

test("data-aware configs need samples; weights the calibration does not cover fall back and say so", async () => {
  const model = await buildModel("iOS18", async (b) => {
    const ids = b.input("ids", "int32", [4]);
    const table = await b.constant("table", tensor([64, 8], 3));
    b.output(b.gather(table, ids, 0, "emb"));
  });
  const gptq: OptimizationConfig = {
    globalConfig: linearQuantizerConfig({ dtype: "int4", weightThreshold: 0, algorithm: "gptq" }),
  };
  await assert.rejects(compressModel(model, gptq), ConfigError);
  await assert.rejects(compressWithCalibration(model, gptq, []), ConfigError);
  const samples = [
    { ids: { dtype: "int32", shape: [4], data: Int32Array.from([1, 2, 3, 4]) } as Tensor },
  ];
  const result = await compressWithCalibration(model, gptq, samples);
  assert.match(result.weights[0].fallback!, /^round to nearest: no input Gram matrix/);
  assert.equal(
    opName(opsOf(result.model).find((o) => o.type.startsWith("constexpr"))!),
    "table_quantized",
  );
  await Promise.all([result.model.close(), model.close()]);
});

test("gptq-kmeans: the sensitive tables, indices by error feedback, closer outputs", async () => {
  const model = await linearModel();
  const samples = linearSamples(4, 70);
  const config = (algorithm: "sensitive-kmeans" | "gptq-kmeans"): OptimizationConfig => ({
    globalConfig: palettizerConfig({ nbits: 3, weightThreshold: 0, algorithm }),
  });
  const sensitive = await compressWithCalibration(model, config("sensitive-kmeans"), samples);
  const gptq = await compressWithCalibration(model, config("gptq-kmeans"), samples);
  const [s, g] = [await constexprTensors(sensitive.model), await constexprTensors(gptq.model)];
  assert.equal(g.op.type, s.op.type);
  assert.deepEqual(
    Array.from(g.inputs.lut.data as Float32Array),
    Array.from(s.inputs.lut.data as Float32Array),
  );
  assert.notDeepEqual(
    Array.from(g.inputs.indices.data as Uint8Array),
    Array.from(s.inputs.indices.data as Uint8Array),
  );
  const [gptqError, sensitiveError] = [
    await outputError(gptq.model, model, samples),
    await outputError(sensitive.model, model, samples),
  ];
  assert.ok(
    gptqError < 0.8 * sensitiveError,
    `gptq-kmeans ${gptqError} vs sensitive ${sensitiveError}`,
  );
  assert.equal(gptq.weights[0].fallback, undefined);
  await Promise.all([sensitive.model.close(), gptq.model.close(), model.close()]);
});
