import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Operation } from "../../src/format/gen/MIL_pb.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import { linearQuantizerConfig } from "../../src/config/linear-quantizer.js";
import type { OpLinearQuantizerConfig } from "../../src/config/linear-quantizer.js";
import type { OptimizationConfig } from "../../src/config/optimization-config.js";
import { parseOptimizationConfig } from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";
import { roundToHalf } from "../../src/kernels/fp16.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import {
  activationQuantization,
  linearQuantizeActivations,
} from "../../src/calibrate/activation-quantize.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { buildModel } from "../../src/program/builder.js";
import { inputNames } from "../../src/program/ops.js";
import type { Target } from "../../src/program/targets.js";
import { compareModels } from "../../src/runtime/compare.js";
import { randomSamples } from "../../src/runtime/inputs.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { SHARED } from "../support/paths.js";

const INT8: OptimizationConfig<OpLinearQuantizerConfig> = {
  globalConfig: linearQuantizerConfig({}),
};

function seeded(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 30 - 1;
  });
}

/** x → linear → relu → (linear → out1, sigmoid → out2). */
function smallModel(target: Target): Promise<MLModel> {
  return buildModel(target, async (b) => {
    const x = b.input("x", "fp32", [2, 8]);
    const w1 = await b.constant("w1", { dtype: "fp32", shape: [16, 8], data: seeded(128, 1) });
    const w2 = await b.constant("w2", { dtype: "fp32", shape: [4, 16], data: seeded(64, 2) });
    const r = b.unary("relu", b.linear(x, w1, undefined, "fc1"), "r");
    b.output(b.linear(r, w2, undefined, "fc2"));
    b.output(b.unary("sigmoid", r, "gate"));
  });
}

function mainOps(model: MLModel): Operation[] {
  const spec = model.spec;
  if (spec.Type.case !== "mlProgram") throw new Error("not a program");
  const fn = spec.Type.value.functions.main;
  return fn.blockSpecializations[fn.opset].operations;
}

function producerType(ops: Operation[], name: string): string | undefined {
  return ops.find((op) => op.outputs.some((o) => o.name === name))?.type;
}

test("scale and zero point follow coremltools' rules on fp16-rounded ranges", () => {
  const h = roundToHalf;
  const sym = activationQuantization(
    { min: -1.3, max: 2.7 },
    { mode: "linear_symmetric", dtype: "int8" },
  );
  assert.deepEqual(sym, { scale: h((2 * h(2.7)) / 254), zeroPoint: undefined, dtype: "int8" });
  const usym = activationQuantization(
    { min: -1, max: 2 },
    { mode: "linear_symmetric", dtype: "uint8" },
  );
  assert.equal(usym.zeroPoint, 127);
  assert.equal(usym.scale, h(4 / 254));
  // Affine int8 over [-1, 3]: scale 4/255, zero point round((-128·3 − 127·−1) / 4) = −64.
  const affine = activationQuantization({ min: -1, max: 3 }, { mode: "linear", dtype: "int8" });
  assert.equal(affine.scale, h(4 / 255));
  assert.equal(affine.zeroPoint, -64);
  // Affine ranges always include 0; an all-zero range gets scale 1.
  assert.equal(
    activationQuantization({ min: 2, max: 4 }, { mode: "linear", dtype: "uint8" }).zeroPoint,
    undefined,
  );
  assert.equal(
    activationQuantization({ min: 0, max: 0 }, { mode: "linear_symmetric", dtype: "int8" }).scale,
    1,
  );
  // fp32 activations below fp16's normal range keep an fp32 scale instead of collapsing.
  const tiny = activationQuantization(
    { min: -2e-8, max: 1e-8 },
    { mode: "linear_symmetric", dtype: "int8" },
    "fp32",
  );
  assert.equal(tiny.scale, Math.fround(Math.fround(4e-8) / 254));
});

test("pairs go before linear inputs and after the activation that follows, redundant ones removed", async () => {
  const model = await smallModel("iOS17");
  const samples = randomSamples((await Interpreter.load(model)).inputs, 3, 5);
  const result = await linearQuantizeActivations(model, INT8, samples);
  const dir = await mkdtemp(join(tmpdir(), "act-"));
  try {
    const ops = mainOps(result.model).filter((op) => op.type !== "const");
    assert.deepEqual(
      ops.map((op) => op.type),
      [
        "quantize",
        "dequantize",
        "linear",
        "relu",
        "quantize",
        "dequantize",
        "dequantize",
        "linear",
        "sigmoid",
      ],
    );
    // x is quantized for fc1; relu's output once (the pair fc2 had was merged with it).
    assert.deepEqual(
      result.pairs.map((p) => p.activation),
      ["x", "r"],
    );
    const all = mainOps(result.model);
    for (const op of ops.filter((o) => o.type === "linear" || o.type === "sigmoid")) {
      assert.equal(producerType(all, inputNames(op, "x")[0]), "dequantize");
    }
    // The scale is the largest |r| seen over the samples, over 127.
    const interpreter = await Interpreter.load(model);
    let peak = 0;
    for (const sample of samples) {
      interpreter.predict(sample, {
        observe: (name, value) => {
          if (name === "r") for (const v of value.data) peak = Math.max(peak, Math.abs(v));
        },
      });
    }
    assert.equal(result.pairs[1].scale, roundToHalf((2 * roundToHalf(peak)) / 254));

    await result.model.save(join(dir, "a8.mlpackage"));
    const reloaded = await loadModel(join(dir, "a8.mlpackage"));
    try {
      const report = await compareModels(model, reloaded, randomSamples(interpreter.inputs, 3, 9));
      for (const output of report)
        assert.ok(output.snrDb > 25, `${output.name}: ${output.snrDb} dB`);
    } finally {
      await reloaded.close();
    }
  } finally {
    await result.model.close();
    await model.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test("refuses pre-iOS17 models (unless raised), empty samples and 4-bit activations", async () => {
  const model = await smallModel("iOS16");
  try {
    const samples = randomSamples((await Interpreter.load(model)).inputs, 1, 0);
    await assert.rejects(linearQuantizeActivations(model, INT8, samples), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /iOS16.*iOS17/);
      return true;
    });
    await assert.rejects(linearQuantizeActivations(model, INT8, []), /at least one sample/);
    const int4 = { globalConfig: linearQuantizerConfig({ dtype: "int4" }) };
    await assert.rejects(linearQuantizeActivations(model, int4, samples), /int8 or uint8/);
    const raised = await linearQuantizeActivations(model, INT8, samples, { raiseTarget: "iOS17" });
    assert.equal(raised.model.spec.specificationVersion, 8);
    await raised.model.close();
  } finally {
    await model.close();
  }
});

test("op_name_configs null keeps an op in float", async () => {
  const model = await smallModel("iOS17");
  try {
    const samples = randomSamples((await Interpreter.load(model)).inputs, 2, 3);
    const config = { ...INT8, opNameConfigs: { fc2: null } };
    const result = await linearQuantizeActivations(model, config, samples);
    // Only fc1's input and the relu after it (fc2 is float, so r gets no input pair).
    assert.deepEqual(
      result.pairs.map((p) => p.activation),
      ["x", "r"],
    );
    const ops = mainOps(result.model);
    const fc2 = ops.find((op) => op.type === "linear" && op.outputs[0].name.startsWith("fc2"))!;
    assert.equal(inputNames(fc2, "x")[0], "r__post__dequant");
    await result.model.close();
  } finally {
    await model.close();
  }
});

/** Activation-quantizes a shared runtime model and checks placement, reload and accuracy. */
async function sharedModel(name: string, check: (ops: Operation[]) => void): Promise<void> {
  const model = await loadModel(join(SHARED!, "runtime", name));
  const dir = await mkdtemp(join(tmpdir(), "act-"));
  try {
    const { inputs } = await Interpreter.load(model);
    const samples = randomSamples(inputs, 2, 1);
    const test: Record<string, Tensor>[] = randomSamples(inputs, 2, 77);
    const a8 = await linearQuantizeActivations(model, INT8, samples, { raiseTarget: "iOS17" });
    try {
      check(mainOps(a8.model));
      await a8.model.save(join(dir, "a8.mlpackage"));
      const w8a8 = await linearQuantizeWeights(a8.model, INT8);
      await w8a8.model.save(join(dir, "w8a8.mlpackage"));
      await w8a8.model.close();
    } finally {
      await a8.model.close();
    }
    for (const variant of ["a8", "w8a8"]) {
      const reloaded = await loadModel(join(dir, `${variant}.mlpackage`));
      try {
        const types = new Set(mainOps(reloaded).map((op) => op.type));
        assert.ok(types.has("quantize") && types.has("dequantize"));
        if (variant === "w8a8")
          assert.ok(
            types.has("constexpr_affine_dequantize") ||
              types.has("constexpr_blockwise_shift_scale"),
          );
        for (const output of await compareModels(model, reloaded, test)) {
          assert.ok(output.snrDb >= 25, `${name} ${variant} ${output.name}: ${output.snrDb} dB`);
        }
      } finally {
        await reloaded.close();
      }
    }
  } finally {
    await model.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every op of `types` reads its `x` from a dequantize. */
function assertQuantizedInputs(ops: Operation[], types: string[], inputs = ["x"]): void {
  for (const op of ops.filter((o) => types.includes(o.type))) {
    for (const input of inputs) {
      const name = inputNames(op, input)[0];
      if (name === undefined || producerType(ops, name) === "const") continue;
      assert.equal(
        producerType(ops, name),
        "dequantize",
        `${op.type} ${op.outputs[0].name}.${input}`,
      );
    }
  }
}

test(
  "mobilenet_v2_fp32: every conv, linear and add reads dequantized activations; A8 and W8A8 ≥ 25 dB",
  { skip: !SHARED },
  async () => {
    await sharedModel("mobilenet_v2_fp32.mlpackage", (ops) => {
      assertQuantizedInputs(ops, ["conv", "linear"]);
      assertQuantizedInputs(ops, ["add"], ["x", "y"]);
      // Each conv not directly followed by a quantized op gets a pair after it (its clip reads it).
      for (const clip of ops.filter((o) => o.type === "clip")) {
        assert.equal(producerType(ops, inputNames(clip, "x")[0]), "dequantize");
      }
    });
  },
);

test(
  "tiny_transformer_fp32: linear and add inputs quantized; A8 and W8A8 ≥ 25 dB",
  { skip: !SHARED },
  async () => {
    await sharedModel("tiny_transformer_fp32.mlpackage", (ops) => {
      assertQuantizedInputs(ops, ["linear"]);
      // matmul, softmax, layer_norm and gelu are not quantized ops: their inputs stay float.
      for (const op of ops.filter((o) => o.type === "softmax")) {
        assert.notEqual(producerType(ops, inputNames(op, "x")[0]), "dequantize");
      }
    });
  },
);

test("coremltools' OpActivationLinearQuantizerConfig parses with its defaults and limits", () => {
  const config = parseOptimizationConfig({
    config_type: "OpActivationLinearQuantizerConfig",
    global_config: { mode: "linear" },
    op_type_configs: { add: null },
  });
  assert.deepEqual(config.globalConfig, {
    kind: "OpActivationLinearQuantizerConfig",
    mode: "linear",
    dtype: "int8",
    weightThreshold: 2048,
  });
  assert.equal(config.opTypeConfigs?.add, null);
  assert.throws(
    () =>
      parseOptimizationConfig({
        config_type: "OpActivationLinearQuantizerConfig",
        global_config: { dtype: "int4" },
      }),
    /global_config\.dtype: expected one of int8, uint8/,
  );
});
