/**
 * Every ML program among the real models in ../shared/models runs on seeded random inputs of
 * its declared shapes (absolute values, as several take magnitudes or images), with finite
 * outputs; pipelines run their ML program stage.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadModel } from "../../src/format/model.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { Interpreter, type LoadOptions } from "../../src/runtime/interpreter.js";
import { randomSamples } from "../../src/runtime/inputs.js";
import { SHARED } from "../support/paths.js";

const MODELS: [string, LoadOptions][] = [
  ["dtln_aec_128_fp16/DTLN_AEC_128_Part1.mlpackage", {}],
  ["dtln_aec_128_fp16/DTLN_AEC_128_Part2.mlpackage", {}],
  ["dtln_aec_128_fp32/DTLN_AEC_128_Part1.mlpackage", {}],
  ["mnist_mlprogram_drawmnist/MNIST.mlpackage", {}],
  ["mnist_mlprogram_drawmnist_xcode_edited/MNIST.mlpackage", {}],
  ["yolov5nu_int8_palettized/yolov5nano.mlpackage", { pipelineStage: 0 }],
];

async function run(path: string, options: LoadOptions): Promise<Record<string, Tensor>> {
  const model = await loadModel(path);
  try {
    const interpreter = await Interpreter.load(model, options);
    const [sample] = randomSamples(interpreter.inputs, 1, 3);
    for (const tensor of Object.values(sample)) {
      const data = tensor.data as Float32Array;
      data.forEach((v, i) => (data[i] = Math.abs(v)));
    }
    return interpreter.predict(sample);
  } finally {
    await model.close();
  }
}

for (const [relative, options] of MODELS) {
  const path = SHARED ? join(SHARED, "models", relative) : "";
  test(`${relative} runs`, { skip: !SHARED || !existsSync(path) }, async () => {
    const outputs = await run(path, options);
    assert.ok(Object.keys(outputs).length > 0);
    for (const [name, tensor] of Object.entries(outputs)) {
      for (const v of tensor.data as Float32Array)
        assert.ok(Number.isFinite(Number(v)), `${name}: ${v}`);
    }
  });
}

test(
  "DTLN's while-loop LSTM gives the same result in its fp16 and fp32 versions",
  { skip: !SHARED || !existsSync(join(SHARED ?? "", "models/dtln_aec_128_fp32")) },
  async () => {
    const fp16 = await run(
      join(SHARED!, "models/dtln_aec_128_fp16/DTLN_AEC_128_Part1.mlpackage"),
      {},
    );
    const fp32 = await run(
      join(SHARED!, "models/dtln_aec_128_fp32/DTLN_AEC_128_Part1.mlpackage"),
      {},
    );
    for (const [name, tensor] of Object.entries(fp32)) {
      const a = tensor.data as Float32Array;
      const b = fp16[name].data as Float32Array;
      let maxError = 0;
      for (let i = 0; i < a.length; i++) maxError = Math.max(maxError, Math.abs(a[i] - b[i]));
      assert.ok(maxError < 2e-2, `${name}: fp16 differs by ${maxError}`);
    }
  },
);

test(
  "pipelines need a stage; MNIST's classify yields its label and probabilities",
  { skip: !SHARED },
  async () => {
    const yolo = join(SHARED!, "models/yolov5nu_int8_palettized/yolov5nano.mlpackage");
    if (existsSync(yolo)) {
      const model = await loadModel(yolo);
      await assert.rejects(
        Interpreter.load(model),
        /pipeline \(0: mlProgram, 1: nonMaximumSuppression\)/,
      );
      await model.close();
    }
    const mnist = join(SHARED!, "models/mnist_mlprogram_drawmnist/MNIST.mlpackage");
    if (existsSync(mnist)) {
      const outputs = await run(mnist, {});
      const probabilities = outputs.Prediction_probs.data as Float32Array;
      const best = probabilities.indexOf(Math.max(...probabilities));
      assert.equal(Number((outputs.Prediction.data as BigInt64Array)[0]), best);
      assert.ok(Math.abs(probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-3);
    }
  },
);
