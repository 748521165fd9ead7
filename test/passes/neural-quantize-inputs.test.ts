import { test } from "node:test";
import type { ProgressEvent } from "../../src/progress.js";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { WeightParamsSchema, type WeightParams } from "../../src/format/gen/NeuralNetwork_pb.js";
import { MLModel } from "../../src/format/model.js";
import { UnsupportedError } from "../../src/errors.js";
import { floatToHalfArray } from "../../src/kernels/fp16.js";
import { dequantizeWeightParams } from "../../src/neural/dequantize.js";
import { skipLayersSelector } from "../../src/neural/selectors.js";
import { neuralNetworkOf } from "../../src/neural/walk.js";
import {
  quantizeWeights,
  type QuantizedFieldEvent,
  type QuantizeWeightsOptions,
} from "../../src/passes/neural-quantize.js";
import { innerProduct, layer, neuralNetworkModel, noise } from "../support/neural-networks.js";

function halfWeights(values: number[]): WeightParams {
  const halves = floatToHalfArray(Float32Array.from(values));
  return create(WeightParamsSchema, { float16Value: new Uint8Array(halves.buffer) });
}

/** An inner product whose weights and bias are stored as float16. */
function halfInnerProduct(name: string, inputs: number, outputs: number) {
  const ip = innerProduct(name, "x", name, inputs, outputs);
  const value = ip.layer.value as { weights: WeightParams; bias: WeightParams };
  value.weights = halfWeights(value.weights.floatValue);
  value.bias = halfWeights(value.bias.floatValue);
  return ip;
}

const paramsOf = (model: MLModel, index: number) =>
  neuralNetworkOf(model.spec)!.layers[index].layer.value as {
    weights: WeightParams;
    bias: WeightParams;
  };

async function quantizeWithEvents(model: MLModel, options: QuantizeWeightsOptions) {
  const events: QuantizedFieldEvent[] = [];
  const out = await quantizeWeights(model, { ...options, onField: (e) => events.push(e) });
  return { out, events };
}

test("float16 weights are quantized from their values, and reported as such", async () => {
  const model = new MLModel(neuralNetworkModel([halfInnerProduct("half", 8, 4)]));
  const input = dequantizeWeightParams(paramsOf(model, 0).weights);
  const { out, events } = await quantizeWithEvents(model, { nbits: 8 });
  const weights = paramsOf(out, 0).weights;
  assert.equal(weights.float16Value.length, 0);
  assert.equal(weights.rawValue.length, 32);
  const back = dequantizeWeightParams(weights, { shape: [4, 8], axis: 0 });
  for (let c = 0; c < 4; c++) {
    const row = input.slice(c * 8, c * 8 + 8);
    const step = (Math.max(...row) - Math.min(...row)) / 255;
    row.forEach((v, i) => assert.ok(Math.abs(back[c * 8 + i] - v) <= step / 2 + 1e-6));
  }
  assert.deepEqual(events, [
    { layer: "half", field: "weights", from: "float16", outcome: "quantized" },
    { layer: "half", field: "bias", from: "float16", outcome: "quantized" },
  ]);
});

test("at 16 bits float16 weights stay as they are; quantized ones are kept at any width", async () => {
  const model = new MLModel(
    neuralNetworkModel([halfInnerProduct("half", 4, 2), innerProduct("full", "half", "y", 2, 2)]),
  );
  const { out: half, events } = await quantizeWithEvents(model, { nbits: 16 });
  assert.deepEqual(paramsOf(half, 0).weights.float16Value, paramsOf(model, 0).weights.float16Value);
  assert.deepEqual(
    events.map((e) => [e.layer, e.field, e.outcome]),
    [
      ["half", "weights", "already float16"],
      ["half", "bias", "already float16"],
      ["full", "weights", "quantized"],
      ["full", "bias", "quantized"],
    ],
  );
  const quantized = await quantizeWeights(model, { nbits: 4 });
  const again = await quantizeWithEvents(quantized, { nbits: 2, mode: "kmeans_lut" });
  assert.deepEqual(paramsOf(again.out, 1).weights, paramsOf(quantized, 1).weights);
  assert.ok(again.events.every((e) => e.outcome === "already quantized" && e.from === "quantized"));
  assert.equal(again.events.length, 4);
});

test("a model without weights is refused", async () => {
  const empty = new MLModel(
    neuralNetworkModel([layer({ name: "relu", layer: { case: "activation", value: {} } })]),
  );
  await assert.rejects(quantizeWeights(empty, { nbits: 8 }), (e: Error) => {
    return e instanceof UnsupportedError && /no weights/.test(e.message);
  });
});

test("layers can be skipped by name; progress counts the selected layers", async () => {
  const model = new MLModel(
    neuralNetworkModel([
      innerProduct("a", "x", "h", 4, 4, 3),
      innerProduct("b", "h", "g", 4, 4, 5),
      innerProduct("c", "g", "y", 4, 4, 7),
    ]),
  );
  const progress: ProgressEvent[] = [];
  const out = await quantizeWeights(model, {
    nbits: 8,
    selector: skipLayersSelector(["b"]),
    onProgress: (event) => progress.push(event),
  });
  assert.equal(paramsOf(out, 0).weights.rawValue.length, 16);
  assert.deepEqual(paramsOf(out, 1).weights.floatValue, noise(16, 5));
  assert.equal(paramsOf(out, 2).weights.rawValue.length, 16);
  assert.deepEqual(progress, [
    { done: 0, total: 2, name: "a" },
    { done: 1, total: 2, name: "c" },
    { done: 2, total: 2, name: "" },
  ]);
});
