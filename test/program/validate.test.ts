/**
 * Validation at load: each way a program can disagree with itself or with its bytes is refused
 * with an error naming the op, before anything allocates by a corrupt size.
 */
import assert from "node:assert/strict";
import { clone, create } from "@bufbuild/protobuf";
import { join } from "node:path";
import { test } from "node:test";
import { DimensionSchema, type Block, type Operation } from "../../src/format/gen/MIL_pb.js";
import { ModelSchema } from "../../src/format/gen/Model_pb.js";
import { loadModel, MLModel } from "../../src/format/model.js";
import { FormatError } from "../../src/errors.js";
import { validateProgram } from "../../src/program/validate.js";
import { validateNeuralNetworks } from "../../src/neural/validate.js";
import { weightStorage } from "../../src/neural/dequantize.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { quantizeWeights } from "../../src/passes/neural-quantize.js";
import { layerWeightFields } from "../../src/neural/walk.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { FIXTURES } from "../support/paths.js";

const PACKAGE = join(FIXTURES, "golden/bases/zoo_fp16_ios18.mlpackage");
const NEURAL = join(FIXTURES, "golden/bases/nn.mlmodel");

/** A copy of the fixture whose main block `change` edits (the fixture itself stays valid). */
async function mutated(change: (block: Block) => void): Promise<MLModel> {
  const model = await loadModel(PACKAGE);
  const spec = clone(ModelSchema, model.spec);
  if (spec.Type.case !== "mlProgram") throw new Error("not a program");
  const fn = spec.Type.value.functions["main"];
  change(fn.blockSpecializations[fn.opset]);
  return model.derive(spec, model.weightFiles);
}

function op(block: Block, name: string): Operation {
  const found = block.operations.find((o) => o.outputs[0]?.name === name);
  if (!found) throw new Error(`no op ${name}`);
  return found;
}

function constantDimension(size: bigint) {
  return create(DimensionSchema, { dimension: { case: "constant", value: { size } } });
}

async function assertRefused(model: MLModel, message: RegExp): Promise<void> {
  await assert.rejects(validateProgram(model), (error: unknown) => {
    assert.ok(error instanceof FormatError, String(error));
    assert.match(error.message, message);
    return true;
  });
  // The interpreter validates first, so it fails the same way instead of crashing.
  await assert.rejects(Interpreter.load(model), message);
}

test("the fixture is valid, and validation is remembered per model", async () => {
  const model = await loadModel(PACKAGE);
  await validateProgram(model);
  await validateProgram(model);
});

test("a name used before it is defined, or an empty one, is refused naming the op", async () => {
  await assertRefused(
    await mutated((block) => {
      const relu = op(block, "relu1_cast_fp16");
      relu.inputs["x"].arguments[0].binding = { case: "name", value: "nowhere" };
    }),
    /op relu "relu1_cast_fp16": input x uses "nowhere", which is not defined before it/,
  );
  await assertRefused(
    await mutated((block) => {
      op(block, "relu1_cast_fp16").inputs["x"].arguments[0].binding = { case: "name", value: "" };
    }),
    /uses an empty name/,
  );
  await assertRefused(
    await mutated((block) => {
      // Used before the op that defines it: swap the producer after its consumer.
      const conv = block.operations.findIndex((o) => o.type === "conv");
      const [moved] = block.operations.splice(conv, 1);
      block.operations.splice(conv + 1, 0, moved);
    }),
    /input x uses "conv1_cast_fp16"/,
  );
  await assertRefused(
    await mutated((block) => (block.outputs[0] = "missing")),
    /block output "missing" is not defined/,
  );
  // Fuzz seed 9191 case 476: predict exited 0 and wrote nothing.
  await assertRefused(
    await mutated((block) => (block.outputs = [])),
    /function main: returns no outputs/,
  );
});

test("a const without outputs or value is refused", async () => {
  await assertRefused(
    await mutated((block) => (op(block, "conv1_pad_type_0").outputs = [])),
    /op const "conv1_pad_type_0": has no outputs/,
  );
  await assertRefused(
    await mutated((block) => delete op(block, "conv1_strides_0").attributes["val"]),
    /has no value/,
  );
});

test("literal sizes must agree with the data, checked before allocating", async () => {
  await assertRefused(
    await mutated((block) => {
      // [4294967296] int32 held as 2 ints: refused without allocating 16 GiB.
      const strides = op(block, "conv1_strides_0");
      const value = strides.attributes["val"];
      if (value.type?.type.case !== "tensorType") throw new Error("not a tensor");
      value.type.type.value.dimensions[0] = constantDimension(2n ** 31n);
    }),
    /immediate value holds 2 elements, its type needs 2147483648/,
  );
  await assertRefused(
    await mutated((block) => {
      const weight = op(block, "conv1_weight_0_to_fp16").attributes["val"];
      if (weight.type?.type.case !== "tensorType") throw new Error("not a tensor");
      weight.type.type.value.dimensions[0] = constantDimension(2n ** 64n - 2n);
    }),
    /dimension of 18446744073709552000, which is not a tensor size/,
  );
  await assertRefused(
    await mutated((block) => {
      const weight = op(block, "conv1_weight_0_to_fp16").attributes["val"];
      if (weight.type?.type.case !== "tensorType") throw new Error("not a tensor");
      const first = weight.type.type.value.dimensions[0].dimension;
      if (first.case !== "constant") throw new Error("not constant");
      first.value.size += 1n;
    }),
    /blob at \d+ holds \d+ bytes, fp16\[\d+\] needs \d+/,
  );
  await assertRefused(
    await mutated((block) => {
      const weight = op(block, "conv1_weight_0_to_fp16").attributes["val"];
      if (weight.value.case !== "blobFileValue") throw new Error("not a blob");
      weight.value.value.offset = 7n;
    }),
    /offset is outside|bad metadata sentinel/,
  );
});

test("neural networks: raw weight bytes without quantization parameters are refused outside custom layers, by passes too", async () => {
  const broken = clone(ModelSchema, (await loadModel(NEURAL)).spec);
  if (broken.Type.case !== "neuralNetwork") throw new Error("not a neural network");
  const found = broken.Type.value.layers
    .flatMap((layer) => layerWeightFields(layer).map((weight) => ({ layer, ...weight })))
    .find(({ params }) => weightStorage(params).kind === "float32");
  if (!found) throw new Error("the fixture has no float weight");
  // Its float32 values as bytes, as if a quantized weight had lost its parameters.
  found.params.rawValue = new Uint8Array(Float32Array.from(found.params.floatValue).buffer);
  found.params.floatValue = [];
  const refused = (error: unknown) =>
    error instanceof FormatError &&
    error.message.startsWith(`nn.mlmodel: layer "${found.layer.name}"`) &&
    /holds raw bytes without quantization parameters/.test(error.message);
  const model = () => new MLModel(broken, new Map(), undefined, "nn.mlmodel");
  assert.throws(() => validateNeuralNetworks(model()), refused);
  // The passes keep weights they do not change as they are: they refuse it too.
  await assert.rejects(decompressWeights(model()), refused);
  await assert.rejects(quantizeWeights(model(), { nbits: 8 }), refused);
});

test("neural networks: every blob a layer reads is made before it; image sizes are sizes", async () => {
  const model = await loadModel(NEURAL);
  validateNeuralNetworks(model);
  const broken = clone(ModelSchema, model.spec);
  const network = broken.Type.value as { layers: { input: string[] }[] };
  network.layers[1].input[0] = "ghost";
  assert.throws(
    () => validateNeuralNetworks(new MLModel(broken)),
    /reads "ghost", which no input or earlier layer makes/,
  );
  const noWidth = clone(ModelSchema, model.spec);
  const image = noWidth.description!.input.find((f) => f.type?.Type.case === "imageType");
  if (image?.type?.Type.case === "imageType") {
    image.type.Type.value.width = 0n;
    assert.throws(() => validateNeuralNetworks(new MLModel(noWidth)), /is not a size/);
  } else {
    const array = noWidth.description!.input[0];
    if (array.type?.Type.case !== "multiArrayType") throw new Error("unexpected input type");
    array.type.Type.value.shape[0] = -3n;
    assert.throws(() => validateNeuralNetworks(new MLModel(noWidth)), /not a size/);
  }
});
