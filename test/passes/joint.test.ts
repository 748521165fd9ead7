import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, describe, it } from "node:test";
import { parseOptimizationConfig } from "../../src/config/parse.js";
import type { OptimizationConfig } from "../../src/config/optimization-config.js";
import type { PrunerConfig } from "../../src/config/pruner.js";
import type { OpLinearQuantizerConfig } from "../../src/config/linear-quantizer.js";
import type { OpPalettizerConfig } from "../../src/config/palettizer.js";
import { ConfigError, UnsupportedError } from "../../src/errors.js";
import type { Operation } from "../../src/format/gen/MIL_pb.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import { elementCount, type Tensor } from "../../src/kernels/dtype.js";
import { blockwiseShiftScale } from "../../src/kernels/dequantize.js";
import { halfToFloat } from "../../src/kernels/fp16.js";
import { linearQuantize } from "../../src/kernels/linear-quantize.js";
import { lutToDense } from "../../src/kernels/lut.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import type { CompressionResult } from "../../src/passes/driver.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { pruneWeights } from "../../src/passes/prune.js";
import { constValue, inputValues, opName } from "../../src/program/ops.js";
import { tensorTypeInfo } from "../../src/program/types.js";
import { readTensorValue } from "../../src/program/values.js";
import { assertSameProgram, goldenPath } from "../support/golden.js";
import { casesNamed, opsByName, readParameter } from "../support/sparse.js";

const IOS16_BASE = "bases/zoo_fp16_ios16.mlpackage";

interface Step {
  config_type: string;
  global_config: Record<string, unknown>;
  joint_compression?: boolean;
}

const open: MLModel[] = [];
after(async () => {
  for (const model of open) await model.close();
});

function keep(model: MLModel): MLModel {
  open.push(model);
  return model;
}

/** Runs one step of a golden case (coremltools' config dict) on `model`. */
async function runStep(model: MLModel, step: Step, joint = step.joint_compression === true) {
  const config = parseOptimizationConfig({
    config_type: step.config_type,
    global_config: step.global_config,
  });
  let result: CompressionResult;
  if (step.config_type === "OpLinearQuantizerConfig") {
    result = await linearQuantizeWeights(
      model,
      config as OptimizationConfig<OpLinearQuantizerConfig>,
      { joint },
    );
  } else if (step.config_type === "OpPalettizerConfig") {
    result = await palettizeWeights(model, config as OptimizationConfig<OpPalettizerConfig>, {
      joint,
      workers: 0,
    });
  } else {
    result = await pruneWeights(model, config as OptimizationConfig<PrunerConfig>, { joint });
  }
  return keep(result.model);
}

async function runSteps(base: MLModel, steps: Step[]): Promise<MLModel[]> {
  const models = [base];
  for (const step of steps) models.push(await runStep(models[models.length - 1], step));
  return models;
}

/**
 * The dense weights every non-constexpr op reads, by `<op name>.<input>` (the keys of the
 * golden `weight_mse`), after decompressing the model.
 */
async function denseInputs(model: MLModel): Promise<Map<string, Float64Array>> {
  const dense = keep(await decompressWeights(model));
  const ops = opsByName(dense);
  const producers = new Map<string, Operation>();
  for (const op of ops.values()) for (const o of op.outputs) producers.set(o.name, op);
  const weights = new Map<string, Float64Array>();
  for (const op of ops.values()) {
    if (op.type === "const") continue;
    for (const [input, argument] of Object.entries(op.inputs)) {
      const binding = argument.arguments[0]?.binding;
      if (binding?.case !== "name") continue;
      const producer = producers.get(binding.value);
      const value = producer && constValue(producer);
      const info = tensorTypeInfo(value?.type);
      if (!value || (info?.dtype !== "fp16" && info?.dtype !== "fp32")) continue;
      const tensor = await readTensorValue(value, dense, binding.value);
      weights.set(`${opName(op)}.${input}`, floats(tensor));
    }
  }
  return weights;
}

function floats(tensor: Tensor): Float64Array {
  if (tensor.dtype === "fp16") return Float64Array.from(tensor.data as Uint16Array, halfToFloat);
  return Float64Array.from(tensor.data as Float32Array);
}

function mse(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum / a.length;
}

function constexprSignature(model: MLModel): string[] {
  const ops = [...opsByName(model).values()].filter((op) => op.type.startsWith("constexpr_"));
  return ops.map((op) => {
    const inputs = Object.keys(op.inputs)
      .sort()
      .map((k) => {
        const info = tensorTypeInfo(inputValues(op, k)[0]?.type);
        return info ? `${k}:${info.dtype}[${info.shape.join(",")}]` : `${k}:<name>`;
      });
    const outputs = op.outputs.map((o) => {
      const info = tensorTypeInfo(o.type)!;
      return `${info.dtype}[${info.shape.join(",")}]`;
    });
    return `${op.type} ${opName(op)} (${inputs.join(" ")}) -> ${outputs.join(", ")}`;
  });
}

/**
 * coremltools clusters fp16 weights of 10,000+ values exactly, as we do: every parameter of
 * the ops made of such a weight must be bit-identical. Returns how many ops were compared.
 */
async function assertExactKMeansIdentical(
  base: MLModel,
  ours: MLModel,
  golden: MLModel,
): Promise<number> {
  const large = [...opsByName(base).values()]
    .filter((op) => {
      const info = tensorTypeInfo(constValue(op)?.type);
      return info?.dtype === "fp16" && elementCount(info.shape as number[]) >= 10_000;
    })
    .map(opName);
  const ourOps = opsByName(ours);
  let compared = 0;
  for (const op of opsByName(golden).values()) {
    const name = opName(op);
    if (!op.type.startsWith("constexpr_") || !large.some((w) => name.startsWith(`${w}_`))) continue;
    const mine = ourOps.get(name)!;
    for (const input of Object.keys(op.inputs)) {
      const [value] = inputValues(op, input);
      if (!value) continue;
      const expected = await readTensorValue(value, golden, name);
      const actual = await readTensorValue(inputValues(mine, input)[0], ours, name);
      assert.deepEqual(actual, expected, `${name}.${input}`);
    }
    compared++;
  }
  return compared;
}

describe("joint compression against coremltools' golden joint cases", () => {
  for (const golden of casesNamed("joint_")) {
    const steps = (golden.config as { steps: Step[] }).steps;
    const kmeans = steps.some((s) => s.config_type === "OpPalettizerConfig");
    it(`${golden.name}: ${kmeans ? "same ops, MSE <= coremltools" : "bit-identical"}`, async () => {
      const base = keep(await loadModel(golden.basePath));
      const expected = keep(await loadModel(golden.outputPath));
      const models = await runSteps(base, steps);
      const ours = models[models.length - 1];
      assert.equal(ours.spec.specificationVersion, golden.summary.specificationVersion);
      if (!kmeans) {
        await assertSameProgram(ours, expected, golden.name);
        return;
      }
      assert.deepEqual(constexprSignature(ours), constexprSignature(expected));
      const goldenMse = (golden as unknown as { weight_mse: Record<string, number> }).weight_mse;
      const original = await denseInputs(base);
      const compressed = await denseInputs(ours);
      const ratios: string[] = [];
      for (const [key, theirs] of Object.entries(goldenMse)) {
        if (!original.has(key)) continue; // not a float weight
        const ourMse = mse(compressed.get(key)!, original.get(key)!);
        assert.ok(ourMse <= theirs * (1 + 1e-6) + 1e-12, `${key}: mse ${ourMse} > ${theirs}`);
        if (theirs > 0) ratios.push(`${key} ${(ourMse / theirs).toFixed(4)}`);
      }
      console.log(`${golden.name} mse ratios (ours / coremltools): ${ratios.join(", ")}`);
      const exact = await assertExactKMeansIdentical(base, ours, expected);
      assert.ok(exact > 0, "some weights are large enough for exact k-means");
    });
  }
});

describe("decompressing a joint model gives the steps' math", () => {
  const [pruneQuant] = casesNamed("joint_prune50_int8");
  const [prunePal] = casesNamed("joint_prune50_pal4");
  const [palQuant] = casesNamed("joint_pal4_lutint8");

  /** Pruning then X jointly = X of the pruned dense weights, zero where pruning zeroed. */
  for (const golden of [pruneQuant, prunePal]) {
    it(
      `${golden?.name}: the second step applied to the pruned weights`,
      { skip: !golden },
      async () => {
        const steps = (golden.config as { steps: Step[] }).steps;
        const base = keep(await loadModel(golden.basePath));
        const [, pruned, joint] = await runSteps(base, steps);
        const separate = await runStep(keep(await decompressWeights(pruned)), steps[1], false);
        const prunedDense = await denseInputs(pruned);
        const expected = await denseInputs(separate);
        const actual = await denseInputs(joint);
        let compared = 0;
        for (const [key, values] of actual) {
          const zeroed = prunedDense.get(key)!;
          const want = expected.get(key)!.map((v, i) => (zeroed[i] === 0 ? 0 : v));
          assert.deepEqual(values, want, key);
          compared++;
        }
        assert.ok(compared > 5);
      },
    );
  }

  it(
    "palettization then table quantization: tables are int8 round trips",
    { skip: !palQuant },
    async () => {
      const steps = (palQuant.config as { steps: Step[] }).steps;
      const base = keep(await loadModel(palQuant.basePath));
      const [, palettized, joint] = await runSteps(base, steps);
      const before = opsByName(palettized);
      const after = opsByName(joint);
      const dense = keep(await decompressWeights(joint));
      const decompressed = opsByName(dense);
      let checked = 0;
      for (const op of before.values()) {
        if (op.type !== "constexpr_lut_to_dense") continue;
        const lut = await readParameter(palettized, op, "lut", before);
        const indices = await readParameter(palettized, op, "indices", before);
        const q = linearQuantize(lut, {
          mode: "linear_symmetric",
          dtype: "int8",
          blockSizes: lut.shape.map(() => 0),
        })!;
        const want = lutToDense(indices, blockwiseShiftScale(q.data, q.scale));
        const rebuilt = after.get(opName(op))!;
        assert.equal(rebuilt.type, "constexpr_lut_to_dense");
        const got = await readTensorValue(
          constValue(decompressed.get(opName(op))!)!,
          dense,
          opName(op),
        );
        assert.deepEqual(floats(got), floats(want), opName(op));
        checked++;
      }
      assert.ok(checked > 5);
    },
  );
});

describe("joint compression errors", () => {
  const [prunePal] = casesNamed("joint_prune50_pal4");
  const [palQuant] = casesNamed("joint_pal4_lutint8");
  const skip = !prunePal || !palQuant;
  const prune: Step = {
    config_type: "OpMagnitudePrunerConfig",
    global_config: { target_sparsity: 0.5 },
  };
  const quantize = (granularity: string): Step => ({
    config_type: "OpLinearQuantizerConfig",
    global_config: { dtype: "int8", granularity },
    joint_compression: true,
  });

  it("refuses iOS16/17 models", { skip: skip || !existsSync(goldenPath(IOS16_BASE)) }, async () => {
    const base = keep(await loadModel(goldenPath(IOS16_BASE)));
    const pruned = await runStep(base, prune);
    await assert.rejects(
      runStep(pruned, quantize("per_channel")),
      (e: unknown) => e instanceof ConfigError && /iOS18 or newer/.test(e.message),
    );
  });

  it("refuses a model no earlier step compressed", { skip }, async () => {
    const base = keep(await loadModel(prunePal.basePath));
    await assert.rejects(
      runStep(base, quantize("per_channel")),
      (e: unknown) => e instanceof ConfigError && /needs a compressed model/.test(e.message),
    );
  });

  it("refuses per-channel quantization of palettization tables", { skip }, async () => {
    const base = keep(await loadModel(palQuant.basePath));
    const palettized = await runStep(base, {
      config_type: "OpPalettizerConfig",
      global_config: { nbits: 4, mode: "uniform" },
    });
    await assert.rejects(
      runStep(palettized, quantize("per_channel")),
      (e: unknown) => e instanceof ConfigError && /per_tensor granularity/.test(e.message),
    );
  });

  it("refuses vector palettization of pruned weights", { skip }, async () => {
    const base = keep(await loadModel(prunePal.basePath));
    const pruned = await runStep(base, prune);
    await assert.rejects(
      runStep(pruned, {
        config_type: "OpPalettizerConfig",
        global_config: { nbits: 2, cluster_dim: 2 },
        joint_compression: true,
      }),
      (e: unknown) => e instanceof UnsupportedError && /cluster_dim/.test(e.message),
    );
  });

  it("has no joint pruning", { skip }, async () => {
    const base = keep(await loadModel(prunePal.basePath));
    await assert.rejects(
      runStep(base, { ...prune, joint_compression: true }),
      (e: unknown) => e instanceof ConfigError && /prune_weights has no joint/.test(e.message),
    );
  });
});
