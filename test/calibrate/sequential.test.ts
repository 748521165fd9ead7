import assert from "node:assert/strict";
import { test } from "node:test";
import type { MLModel } from "../../src/format/model.js";
import { compressWithCalibration } from "../../src/calibrate/data-aware.js";
import { calibrationStages } from "../../src/calibrate/sequential.js";
import { collectInputStatistics, type RunCheckpoint } from "../../src/calibrate/statistics.js";
import { linearQuantizerConfig } from "../../src/config/linear-quantizer.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { compressModel } from "../../src/passes/registry.js";
import { buildModel } from "../../src/program/builder.js";
import { Interpreter } from "../../src/runtime/interpreter.js";

function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
}

function tensor(shape: number[], seed: number): Tensor {
  const next = random(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return { dtype: "fp32", shape, data: Float32Array.from({ length: size }, next) };
}

/** x → fc1 and fc1b (the same input: one stage) → relu(fc1) → fc2 (the next stage). */
function twoLayers(): Promise<MLModel> {
  return buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp32", [16, 32]);
    const w1 = await b.constant("w1", tensor([24, 32], 1));
    const w1b = await b.constant("w1b", tensor([8, 32], 2));
    const w2 = await b.constant("w2", tensor([16, 24], 3));
    const hidden = b.unary("relu", b.linear(x, w1, undefined, "fc1"), "act");
    b.output(b.linear(x, w1b, undefined, "fc1b"));
    b.output(b.linear(hidden, w2, undefined, "fc2"));
  });
}

const samples = [0, 1, 2, 3].map((s) => ({ x: tensor([16, 32], 10 + s) }));
const config = {
  globalConfig: linearQuantizerConfig({
    dtype: "int4",
    granularity: "per_channel",
    algorithm: "gptq",
    weightThreshold: 0,
  }),
};

const WEIGHT_OF: Record<string, string> = { fc1: "w1", fc1b: "w1b", fc2: "w2" };

/** Each weight's dense values as the compressed model computes them. */
async function denseWeights(model: MLModel): Promise<Map<string, Float32Array>> {
  const interpreter = await Interpreter.load(model);
  const found = new Map<string, Float32Array>();
  interpreter.predict(samples[0], {
    inspect: (ctx) => {
      const weight = WEIGHT_OF[ctx.name];
      if (weight) found.set(weight, ctx.tensor("weight").data as Float32Array);
    },
  });
  assert.equal(found.size, 3, "every linear's weight was seen");
  return found;
}

test("sequential GPTQ: stages by shared input, each calibrated on the compressed layers before it", async () => {
  const model = await twoLayers();
  if (model.spec.Type.case !== "mlProgram") throw new Error("not a program");
  const fn = model.spec.Type.value.functions.main;
  const stages = calibrationStages(fn.blockSpecializations[fn.opset].operations);
  assert.deepEqual(
    stages.map((s) => s.weights),
    [["w1", "w1b"], ["w2"]],
  );

  const sequential = await compressWithCalibration(model, config, samples, { sequential: true });
  const oneShot = await compressWithCalibration(model, config, samples);
  assert.deepEqual(sequential.weights.map((w) => w.name).sort(), ["w1", "w1b", "w2"]);
  const [seq, once] = await Promise.all([
    denseWeights(sequential.model),
    denseWeights(oneShot.model),
  ]);
  // The first stage sees the float model either way; fc2 sees fc1 compressed.
  assert.deepEqual(seq.get("w1"), once.get("w1"));
  assert.deepEqual(seq.get("w1b"), once.get("w1b"));
  assert.notDeepEqual(seq.get("w2"), once.get("w2"));

  // fc2 as GPTQ makes it from the statistics of the model with fc1 already compressed.
  const firstStage = await compressModel(model, config, {
    calibration: await collectInputStatistics(model, samples, { gram: true }),
    weights: (name) => name !== "w2",
  });
  const calibration = await collectInputStatistics(firstStage.model, samples, { gram: true });
  const expected = await compressModel(firstStage.model, config, {
    calibration,
    weights: (name) => name === "w2",
  });
  assert.deepEqual(seq.get("w2"), (await denseWeights(expected.model)).get("w2"));
  for (const m of [sequential.model, oneShot.model, firstStage.model, expected.model, model]) {
    await m.close();
  }
});

test("sequential: stages no data-aware config compresses are not calibrated, but compressed in order; names per weight work", async () => {
  const model = await twoLayers();
  // fc1 and fc1b rounded to nearest, fc2 by GPTQ: one calibration run, on fc1 compressed.
  const rounded = linearQuantizerConfig({ dtype: "int4", weightThreshold: 0 });
  const mixed = { ...config, opNameConfigs: { w1: rounded, w1b: rounded } };
  const progress: number[] = [];
  const sequential = await compressWithCalibration(model, mixed, samples, {
    sequential: true,
    onCalibrationProgress: (event) => progress.push(event.total),
  });
  assert.deepEqual(new Set(progress), new Set([samples.length]), "one stage calibrated");
  assert.deepEqual(
    sequential.weights.map((w) => w.name),
    ["w1", "w1b", "w2"],
    "reported in program order",
  );

  const firstStage = await compressModel(model, mixed, { weights: (name) => name !== "w2" });
  const expected = await compressModel(firstStage.model, mixed, {
    calibration: await collectInputStatistics(firstStage.model, samples, { gram: true }),
    weights: (name) => name === "w2",
  });
  const [seq, want] = await Promise.all([
    denseWeights(sequential.model),
    denseWeights(expected.model),
  ]);
  for (const name of ["w1", "w1b", "w2"]) assert.deepEqual(seq.get(name), want.get(name), name);
  for (const m of [sequential.model, firstStage.model, expected.model]) await m.close();

  // Names are still checked, all at once, though each step compresses only some weights.
  await assert.rejects(
    compressWithCalibration(model, { ...mixed, opNameConfigs: { w9: rounded } }, samples, {
      sequential: true,
    }),
    /op_name_configs\.w9: the model has no op named w9/,
  );
  await model.close();
});

/** x → fc1 → h1 → fc2 → h2; h1 + h2 → fc3: three stages, h1 still needed after fc2. */
function threeLayers(): Promise<MLModel> {
  return buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp32", [16, 32]);
    const w1 = await b.constant("w1", tensor([24, 32], 4));
    const w2 = await b.constant("w2", tensor([24, 24], 5));
    const w3 = await b.constant("w3", tensor([8, 24], 6));
    const h1 = b.unary("relu", b.linear(x, w1, undefined, "fc1"), "h1");
    const h2 = b.unary("relu", b.linear(h1, w2, undefined, "fc2"), "h2");
    b.output(b.linear(b.binary("add", h1, h2, "sum"), w3, undefined, "fc3"));
  });
}

test("calibration runs resumed from a kept checkpoint gather the same statistics as whole runs", async () => {
  const model = await threeLayers();
  const keep: RunCheckpoint = { activation: "h1", values: [] };
  const whole = await collectInputStatistics(model, samples, { gram: true, keep });
  assert.equal(keep.values.length, samples.length);
  // What fc2 and later read from before it: h1 alone (x is an input, the weights constants).
  assert.deepEqual([...keep.values[0].keys()], ["h1"]);
  const resumed = await collectInputStatistics(model, samples, { gram: true, resume: keep });
  assert.equal(resumed.statistics("main", "w1"), undefined, "fc1 did not run again");
  for (const weight of ["w2", "w3"]) {
    const [got, want] = [resumed, whole].map((t) => t.statistics("main", weight));
    assert.ok(want, weight);
    assert.deepEqual(got, want, weight);
  }
  await model.close();
});

test("sequential GPTQ over three stages equals the chain of whole calibration runs", async () => {
  const model = await threeLayers();
  const sequential = await compressWithCalibration(model, config, samples, { sequential: true });
  let current = model;
  for (const weight of ["w1", "w2", "w3"]) {
    const next = await compressModel(current, config, {
      calibration: await collectInputStatistics(current, samples, { gram: true }),
      weights: (name) => name === weight,
    });
    if (current !== model) await current.close();
    current = next.model;
  }
  const dense = async (m: MLModel) => {
    const found = new Map<string, Float32Array>();
    (await Interpreter.load(m)).predict(samples[0], {
      inspect: (ctx) => {
        if (ctx.name.startsWith("fc"))
          found.set(ctx.name, ctx.tensor("weight").data as Float32Array);
      },
    });
    return found;
  };
  assert.deepEqual(await dense(sequential.model), await dense(current));
  for (const m of [sequential.model, current, model]) await m.close();
});
