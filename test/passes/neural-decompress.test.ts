import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { WeightParamsSchema } from "../../src/format/gen/NeuralNetwork_pb.js";
import { encodeModel, loadModel, MLModel } from "../../src/format/model.js";
import { roundToHalf } from "../../src/kernels/fp16.js";
import { decompressNeuralNetwork } from "../../src/passes/neural-decompress.js";
import { quantizeWeights } from "../../src/passes/neural-quantize.js";
import { neuralNetworkWeights } from "../../src/neural/weights.js";
import { layerWeightFields, neuralNetworkOf, walkLayers } from "../../src/neural/walk.js";
import { GOLDEN, SHARED } from "../support/paths.js";
import { floatWeights, layer, neuralNetworkModel, noise } from "../support/neural-networks.js";

const golden = (name: string) => join(GOLDEN, name);
const fieldsOf = (model: MLModel) =>
  [...walkLayers(neuralNetworkOf(model.spec)!)].flatMap(({ layer }) => layerWeightFields(layer));

test(
  "float16 weights decompress to exactly the rounded originals",
  { skip: !existsSync(golden("cases/nn_fp16.mlmodel")) },
  async () => {
    const base = await loadModel(golden("bases/nn.mlmodel"));
    const out = await decompressNeuralNetwork(await loadModel(golden("cases/nn_fp16.mlmodel")));
    const [original, restored] = [fieldsOf(base), fieldsOf(out)];
    for (let i = 0; i < original.length; i++) {
      assert.deepEqual(
        restored[i].params.floatValue,
        original[i].params.floatValue.map(roundToHalf),
        original[i].field,
      );
      assert.equal(restored[i].params.float16Value.length, 0);
    }
  },
);

for (const [name, nbits] of [
  ["nn_linear8", 8],
  ["nn_linear4", 4],
  ["nn_linear1", 1],
] as const) {
  test(
    `${name} decompresses within half a quantization step`,
    { skip: !existsSync(golden(`cases/${name}.mlmodel`)) },
    async () => {
      const base = await loadModel(golden("bases/nn.mlmodel"));
      const quantized = await loadModel(golden(`cases/${name}.mlmodel`));
      const out = await decompressNeuralNetwork(quantized);
      const [original, packed, restored] = [fieldsOf(base), fieldsOf(quantized), fieldsOf(out)];
      for (let i = 0; i < original.length; i++) {
        const type = packed[i].params.quantization!.QuantizationType;
        assert.equal(type.case, "linearQuantization");
        const maxStep = Math.max(...type.value!.scale);
        const values = original[i].params.floatValue;
        assert.equal(restored[i].params.floatValue.length, values.length);
        restored[i].params.floatValue.forEach((v, j) =>
          assert.ok(
            Math.abs(v - values[j]) <= maxStep / 2 + 1e-6,
            `${original[i].field}[${j}] at ${nbits} bits`,
          ),
        );
        assert.equal(restored[i].params.quantization, undefined);
        assert.equal(restored[i].params.rawValue.length, 0);
      }
    },
  );
}

test("float32 models come out unchanged", async () => {
  const base = await loadModel(golden("bases/nn.mlmodel"));
  const out = await decompressNeuralNetwork(base);
  assert.ok(Buffer.from(encodeModel(out.spec)).equals(Buffer.from(encodeModel(base.spec))));
});

test("deconvolution kernels are quantized and restored per output channel (second axis)", async () => {
  const [kc, oc, kh, kw] = [2, 3, 2, 2];
  const values = noise(kc * oc * kh * kw, 3).map(
    (v, i) => v * 10 ** (Math.floor(i / (kh * kw)) % oc),
  );
  const deconv = layer({
    name: "deconv",
    layer: {
      case: "convolution",
      value: {
        outputChannels: BigInt(oc),
        kernelChannels: BigInt(kc),
        nGroups: 1n,
        kernelSize: [BigInt(kh), BigInt(kw)],
        isDeconvolution: true,
        weights: floatWeights(values),
      },
    },
  });
  const model = new MLModel(neuralNetworkModel([deconv]));
  const quantized = await quantizeWeights(model, { nbits: 8, selector: () => true });
  const [packed] = fieldsOf(quantized);
  const type = packed.params.quantization!.QuantizationType;
  assert.equal(type.case, "linearQuantization");
  assert.equal(type.value!.scale.length, oc);
  const [restored] = fieldsOf(await decompressNeuralNetwork(quantized));
  restored.params.floatValue.forEach((v, i) => {
    const step = type.value!.scale[Math.floor(i / (kh * kw)) % oc];
    assert.ok(Math.abs(v - Math.fround(values[i])) <= step / 2 + 1e-6);
  });
});

test("int8 weights of dynamic int8 products become floats and the layer leaves int8 mode", async () => {
  const weights = create(WeightParamsSchema, {
    int8RawValue: new Uint8Array(new Int8Array([-127, 0, 64, 127]).buffer),
    quantization: {
      numberOfBits: 8n,
      QuantizationType: { case: "linearQuantization", value: { scale: [0.5] } },
    },
  });
  const ip = layer({
    name: "ip",
    layer: {
      case: "innerProduct",
      value: { inputChannels: 2n, outputChannels: 2n, int8DynamicQuantize: true, weights },
    },
  });
  const out = await decompressNeuralNetwork(new MLModel(neuralNetworkModel([ip])));
  const kind = neuralNetworkOf(out.spec)!.layers[0].layer;
  assert.equal(kind.case, "innerProduct");
  assert.deepEqual(kind.value!.weights!.floatValue, [-63.5, 0, 32, 63.5]);
  assert.equal(kind.value!.int8DynamicQuantize, false);
});

const squeezeNet =
  SHARED && join(SHARED, "models/apple_squeezenet_int8lut/SqueezeNetInt8LUT.mlmodel");
test(
  "Apple's 8-bit look-up-table SqueezeNet decompresses to float32",
  { skip: !squeezeNet },
  async () => {
    const model = await loadModel(squeezeNet!);
    const before = neuralNetworkWeights(model.spec);
    assert.ok(before.some((w) => w.storage.kind === "quantized"));
    const after = neuralNetworkWeights((await decompressNeuralNetwork(model)).spec);
    assert.equal(after.length, before.length);
    after.forEach((w, i) => {
      assert.equal(w.storage.kind, "float32");
      assert.equal(w.elementCount, before[i].elementCount);
      assert.ok(after[i].byteSize === 4 * w.elementCount);
    });
  },
);
