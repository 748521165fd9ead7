/**
 * Every neural-network model in ../shared/models quantizes at 8, 4 and 16 bits, and reads back
 * within the error the storage allows: half a linear step per channel, or float16 rounding.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { clone } from "@bufbuild/protobuf";
import { ModelSchema } from "../../src/format/gen/Model_pb.js";
import type { NeuralNetworkLayer } from "../../src/format/gen/NeuralNetwork_pb.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import { roundToHalf } from "../../src/kernels/fp16.js";
import { channelCount, channelIndices } from "../../src/kernels/neural-quantization.js";
import { dequantizeWeightParams, weightStorage } from "../../src/neural/dequantize.js";
import {
  layerWeightFields,
  nestedNetworks,
  neuralNetworksIn,
  walkLayers,
} from "../../src/neural/walk.js";
import { fieldLayout } from "../../src/neural/weights.js";
import { fuseBeforeQuantization } from "../../src/passes/neural-fuse.js";
import { quantizeWeights } from "../../src/passes/neural-quantize.js";
import { SHARED } from "../support/paths.js";

/** The .mlmodel files of ../shared/models holding a neural network. */
function neuralNetworkFiles(): string[] {
  if (!SHARED) return [];
  const root = join(SHARED, "models");
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) =>
      readdirSync(join(root, entry.name))
        .filter((file) => file.endsWith(".mlmodel"))
        .map((file) => join(root, entry.name, file)),
    );
}

type Fields = Map<string, { layer: NeuralNetworkLayer; field: string; values: Float32Array }>;

/** Every non-empty weight field as floats, keyed by layer and field name. */
function fieldValues(model: MLModel): Fields {
  const out: Fields = new Map();
  for (const { network } of neuralNetworksIn(model.spec)) {
    for (const { layer } of walkLayers(network)) {
      for (const { field, params } of layerWeightFields(layer)) {
        if (weightStorage(params).kind === "empty") continue;
        const layout = fieldLayout(layer, field);
        out.set(`${layer.name}/${field}`, {
          layer,
          field,
          values: dequantizeWeightParams(params, layout),
        });
      }
    }
  }
  return out;
}

/** The model as the pass sees it below 16 bits: its float32 layers fused. */
function fused(model: MLModel): MLModel {
  const spec = clone(ModelSchema, model.spec);
  const fuseAll = (network: { layers: NeuralNetworkLayer[] }) => {
    fuseBeforeQuantization(network.layers);
    for (const layer of network.layers) nestedNetworks(layer).forEach(fuseAll);
  };
  for (const { network } of neuralNetworksIn(spec)) fuseAll(network);
  return model.derive(spec, model.weightFiles);
}

function assertWithinHalfStep(
  before: Float32Array,
  after: Float32Array,
  layer: NeuralNetworkLayer,
  field: string,
  nbits: number,
) {
  const layout = fieldLayout(layer, field) ?? { shape: [before.length], axis: 0 };
  const channels = channelCount(layout);
  const channelOf = channelIndices(layout);
  const min = new Float64Array(channels).fill(Infinity);
  const max = new Float64Array(channels).fill(-Infinity);
  before.forEach((v, i) => {
    min[channelOf[i]] = Math.min(min[channelOf[i]], v);
    max[channelOf[i]] = Math.max(max[channelOf[i]], v);
  });
  for (let i = 0; i < before.length; i++) {
    const c = channelOf[i];
    const step = (max[c] - min[c]) / (2 ** nbits - 1);
    // Steps too small to divide by collapse every value onto the channel minimum.
    const bound =
      (step > 1e-6 ? step / 2 : max[c] - min[c]) +
      1e-6 * Math.max(Math.abs(min[c]), Math.abs(max[c]));
    const error = Math.abs(after[i] - before[i]);
    if (!(error <= bound)) assert.fail(`${layer.name} ${field}[${i}]: error ${error} > ${bound}`);
  }
}

describe("quantize_weights on the shared neural-network models", { skip: !SHARED }, () => {
  const opened: MLModel[] = [];
  after(async () => Promise.all(opened.map((m) => m.close())));

  for (const file of neuralNetworkFiles()) {
    it(`${file.split("/").slice(-2).join("/")}: 8, 4 and 16 bits read back within bounds`, async () => {
      const model = await loadModel(file);
      opened.push(model);
      if (neuralNetworksIn(model.spec).next().done) return;
      const original = fieldValues(model);
      const reference = fieldValues(fused(model));
      for (const nbits of [8, 4, 16]) {
        const quantized = await quantizeWeights(model, { nbits });
        opened.push(quantized);
        const inputs = nbits === 16 ? original : reference;
        const inputStorage = new Map(
          [...fieldValues(nbits === 16 ? model : fused(model))].map(([key, { layer, field }]) => {
            const params = layerWeightFields(layer).find((f) => f.field === field)!.params;
            return [key, weightStorage(params)];
          }),
        );
        const outputs = fieldValues(quantized);
        assert.deepEqual([...outputs.keys()], [...inputs.keys()]);
        for (const [key, { layer, field, values }] of outputs) {
          const before = inputs.get(key)!.values;
          const was = inputStorage.get(key)!;
          const now = weightStorage(
            layerWeightFields(layer).find((f) => f.field === field)!.params,
          );
          assert.equal(values.length, before.length, key);
          if (was.kind !== "float32" && (was.kind !== "float16" || nbits === 16)) {
            // Already as small: kept exactly.
            assert.deepEqual(now, was, key);
            assert.deepEqual(values, before, key);
          } else if (nbits === 16) {
            assert.equal(now.kind, "float16", key);
            const wrong = values.findIndex((v, i) => v !== roundToHalf(before[i]));
            assert.equal(wrong, -1, `${key}[${wrong}]: ${values[wrong]} from ${before[wrong]}`);
          } else {
            assert.deepEqual(now, { kind: "quantized", nbits, quantization: "linear" }, key);
            assertWithinHalfStep(before, values, layer, field, nbits);
          }
        }
      }
    });
  }
});
