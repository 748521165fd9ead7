import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
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
