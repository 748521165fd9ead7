import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { ModelSchema } from "../../src/format/gen/Model_pb.js";
import { loadModel } from "../../src/format/model.js";
import { neuralNetworkWeights } from "../../src/neural/weights.js";
import { GOLDEN } from "../support/paths.js";
import {
  floatWeights,
  innerProduct,
  layer,
  neuralNetworkModel,
} from "../support/neural-networks.js";

const BASE_FIELDS = [
  ["ip", "innerProduct", "weights", 131072],
  ["ip", "innerProduct", "bias", 256],
  ["conv", "convolution", "weights", 18432],
  ["conv", "convolution", "bias", 64],
  ["emb", "embedding", "weights", 48000],
];

test("every weight of the golden network is listed with its storage", async () => {
  const listing = neuralNetworkWeights((await loadModel(join(GOLDEN, "bases/nn.mlmodel"))).spec);
  assert.deepEqual(
    listing.map((w) => [w.layer, w.layerType, w.field, w.elementCount]),
    BASE_FIELDS,
  );
  for (const w of listing) {
    assert.deepEqual(w.storage, { kind: "float32" });
    assert.equal(w.byteSize, 4 * w.elementCount);
    assert.deepEqual(w.modelPath, []);
  }
});

for (const [name, storage, bytesPerWeight] of [
  ["nn_fp16", { kind: "float16" }, 2],
  ["nn_linear4", { kind: "quantized", nbits: 4, quantization: "linear" }, 0.5],
  ["nn_linear_lut3", { kind: "quantized", nbits: 3, quantization: "lut" }, 3 / 8],
] as const) {
  const file = join(GOLDEN, `cases/${name}.mlmodel`);
  test(`${name} is listed as ${storage.kind}`, { skip: !existsSync(file) }, async () => {
    const listing = neuralNetworkWeights((await loadModel(file)).spec);
    assert.deepEqual(
      listing.map((w) => [w.layer, w.layerType, w.field, w.elementCount]),
      BASE_FIELDS,
    );
    for (const w of listing) {
      assert.deepEqual(w.storage, storage);
      assert.ok(w.byteSize >= Math.ceil(w.elementCount * bytesPerWeight));
    }
  });
}

test("weights in pipelines, branches, LSTMs and activations are all found", () => {
  const lstm = layer({
    name: "lstm",
    layer: {
      case: "biDirectionalLSTM",
      value: {
        weightParams: [
          { inputGateBiasVector: floatWeights([1]) },
          { outputGatePeepholeVector: floatWeights([2, 3]) },
        ],
      },
    },
  });
  const prelu = layer({
    name: "prelu",
    layer: {
      case: "activation",
      value: { NonlinearityType: { case: "PReLU", value: { alpha: floatWeights([0.1]) } } },
    },
  });
  const loop = layer({
    name: "loop",
    layer: {
      case: "loop",
      value: { bodyNetwork: { layers: [innerProduct("inner", "a", "b", 1, 1)] } },
    },
  });
  const pipeline = create(ModelSchema, {
    Type: {
      case: "pipeline",
      value: { models: [neuralNetworkModel([lstm, prelu, loop])], names: ["first"] },
    },
  });
  const listing = neuralNetworkWeights(pipeline);
  assert.deepEqual(
    listing.map((w) => [
      w.modelPath.join("/"),
      w.enclosingLayers.join("/"),
      w.layer,
      w.field,
      w.elementCount,
    ]),
    [
      ["first", "", "lstm", "weightParams[0].inputGateBiasVector", 1],
      ["first", "", "lstm", "weightParams[1].outputGatePeepholeVector", 2],
      ["first", "", "prelu", "PReLU.alpha", 1],
      ["first", "loop", "inner", "weights", 1],
      ["first", "loop", "inner", "bias", 1],
    ],
  );
});
