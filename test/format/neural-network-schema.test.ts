import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ModelSchema } from "../../src/format/gen/Model_pb.js";
import { NeuralNetworkLayerSchema } from "../../src/format/gen/NeuralNetwork_pb.js";
import { decodeModel, encodeModel } from "../../src/format/model.js";
import { modelTree } from "../../src/format/model-tree.js";
import { FIXTURES, GOLDEN, SHARED } from "../support/paths.js";

/** Every `.mlmodel` protobuf under `dir`, including the ones inside `.mlpackage` folders. */
function modelFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...modelFiles(path));
    else if (name.endsWith(".mlmodel")) out.push(path);
  }
  return out.sort();
}

const files = SHARED
  ? [...modelFiles(join(SHARED, "models")), ...modelFiles(GOLDEN)]
  : modelFiles(join(FIXTURES, "golden"));

test("model protobufs re-encode to identical bytes", () => {
  assert.ok(files.length > 0);
  let neuralNetworks = 0;
  for (const file of files) {
    const bytes = readFileSync(file);
    const spec = decodeModel(bytes, file);
    for (const { model } of modelTree(spec)) {
      if (model.Type.case?.startsWith("neuralNetwork")) neuralNetworks++;
    }
    const again = encodeModel(spec);
    assert.ok(Buffer.from(again).equals(bytes), `${file} changed on re-encoding`);
  }
  assert.ok(neuralNetworks > 0, "no neural network among the models checked");
});

test("a neural network's layers decode into their declared parameters", () => {
  const file = join(GOLDEN, "bases/nn.mlmodel");
  const spec = decodeModel(readFileSync(file), file);
  assert.equal(spec.Type.case, "neuralNetwork");
  const layers = spec.Type.value.layers;
  assert.ok(layers.length > 0);
  for (const layer of layers) {
    assert.ok(layer.layer.case, `layer ${layer.name} has no recognised kind`);
  }
  const withWeights = layers.filter((l) => l.layer.case === "innerProduct");
  for (const layer of withWeights) {
    if (layer.layer.case !== "innerProduct") continue;
    const params = layer.layer.value;
    const count = Number(params.inputChannels * params.outputChannels);
    assert.equal(params.weights?.floatValue.length, count);
  }
});

test("parameters of weightless layers survive as unknown fields, also inside pipelines", () => {
  // name "p" (field 1), reorganizeData (field 345) holding blockSize = 2 (field 2), a field our
  // schema leaves out.
  const reorganize = [0x10, 0x02];
  const layerBytes = Uint8Array.from([
    0x0a,
    0x01,
    0x70,
    0xca,
    0x15,
    reorganize.length,
    ...reorganize,
  ]);
  const layer = fromBinary(NeuralNetworkLayerSchema, layerBytes);
  assert.equal(layer.layer.case, "reorganizeData");
  assert.deepEqual(toBinary(NeuralNetworkLayerSchema, layer), layerBytes);

  const network = create(ModelSchema, {
    specificationVersion: 4,
    Type: { case: "neuralNetwork", value: { layers: [layer] } },
  });
  const pipeline = create(ModelSchema, {
    specificationVersion: 4,
    Type: { case: "pipeline", value: { models: [network], names: ["nn"] } },
  });
  const bytes = encodeModel(pipeline);
  const again = decodeModel(bytes, "pipeline");
  assert.deepEqual(encodeModel(again), bytes);
  const nested = [...modelTree(again)][1].model;
  assert.equal(nested.Type.case, "neuralNetwork");
  assert.deepEqual(
    toBinary(NeuralNetworkLayerSchema, nested.Type.value!.layers[0] as typeof layer),
    layerBytes,
  );
});
