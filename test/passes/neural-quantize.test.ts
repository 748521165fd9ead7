import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { ModelSchema } from "../../src/format/gen/Model_pb.js";
import type { NeuralNetworkLayer, WeightParams } from "../../src/format/gen/NeuralNetwork_pb.js";
import { encodeModel, loadModel, MLModel } from "../../src/format/model.js";
import { ConfigError, UnsupportedError } from "../../src/errors.js";
import { WorkerPool } from "../../src/parallel/pool.js";
import { quantizeWeights, type QuantizeWeightsOptions } from "../../src/passes/neural-quantize.js";
import { decompressNeuralNetwork } from "../../src/passes/neural-decompress.js";
import {
  advancedLayerSelector,
  defaultLayerSelector,
  matrixMultiplyLayerSelector,
} from "../../src/neural/selectors.js";
import { layerWeightFields, neuralNetworkOf, walkLayers } from "../../src/neural/walk.js";
import { GOLDEN } from "../support/paths.js";
import {
  floatWeights,
  innerProduct,
  layer,
  neuralNetworkModel,
  noise,
} from "../support/neural-networks.js";

interface GoldenCase {
  name: string;
  base: string;
  api: string;
  config: {
    nbits: number;
    quantization_mode?: QuantizeWeightsOptions["mode"];
    selector?: {
      type: string;
      skip_layer_types?: string[];
      minimum_conv_weight_count?: number;
      minimum_conv_kernel_channels?: number;
    };
  };
  output: string;
}

const cases = (
  JSON.parse(readFileSync(join(GOLDEN, "cases.json"), "utf8")) as { cases: GoldenCase[] }
).cases.filter((c) => c.api === "quantize_weights");

function optionsOf(c: GoldenCase): QuantizeWeightsOptions {
  const selector = c.config.selector;
  assert.ok(!selector || selector.type === "AdvancedQuantizedLayerSelector");
  return {
    nbits: c.config.nbits,
    mode: c.config.quantization_mode,
    selector:
      selector &&
      advancedLayerSelector({
        skipLayerTypes: selector.skip_layer_types,
        minimumConvWeightCount: selector.minimum_conv_weight_count,
        minimumConvKernelChannels: selector.minimum_conv_kernel_channels,
      }),
  };
}

const present = (c: GoldenCase) =>
  existsSync(join(GOLDEN, c.base)) && existsSync(join(GOLDEN, c.output));

test("golden quantize_weights cases exist", () => {
  assert.ok(cases.filter(present).length >= 9);
});

for (const c of cases) {
  const deterministic = !c.config.quantization_mode?.startsWith("kmeans");
  test(
    `${c.name}: ${deterministic ? "same bytes as coremltools" : "no more error than coremltools"}`,
    { skip: !present(c) },
    async () => {
      const base = await loadModel(join(GOLDEN, c.base));
      const expected = await loadModel(join(GOLDEN, c.output));
      const ours = await quantizeWeights(base, optionsOf(c));
      if (deterministic) {
        assert.ok(Buffer.from(encodeModel(ours.spec)).equals(readFileSync(join(GOLDEN, c.output))));
        return;
      }
      assert.equal(ours.spec.specificationVersion, expected.spec.specificationVersion);
      const [original, mine, theirs] = await Promise.all([
        base,
        decompressNeuralNetwork(ours),
        decompressNeuralNetwork(expected),
      ]);
      const fields = (m: MLModel) =>
        [...walkLayers(neuralNetworkOf(m.spec)!)].flatMap(({ layer }) => layerWeightFields(layer));
      const [a, b, t] = [fields(original), fields(mine), fields(theirs)];
      assert.equal(b.length, a.length);
      for (let i = 0; i < a.length; i++) {
        const error = (w: WeightParams) =>
          w.floatValue.reduce((s, v, j) => s + (v - a[i].params.floatValue[j]) ** 2, 0);
        assert.ok(
          error(b[i].params) <= error(t[i].params) * (1 + 1e-6),
          `${a[i].field}: ${error(b[i].params)} > ${error(t[i].params)}`,
        );
      }
    },
  );
}

test("ML programs are refused with a pointer to quantize", async () => {
  const program = new MLModel(
    create(ModelSchema, { specificationVersion: 7, Type: { case: "mlProgram", value: {} } }),
  );
  await assert.rejects(
    quantizeWeights(program, { nbits: 8 }),
    (e: Error) => e instanceof UnsupportedError && /`quantize`/.test(e.message),
  );
});

test("invalid settings are config errors", async () => {
  const model = new MLModel(neuralNetworkModel([innerProduct("ip", "x", "y", 4, 2)]));
  for (const options of [
    { nbits: 9 },
    { nbits: 0 },
    { nbits: 4, mode: "linear_symmetric" as const },
    { nbits: 4, mode: "custom_lut" as const },
    { nbits: 4, mode: "cubic" as never },
  ]) {
    await assert.rejects(quantizeWeights(model, options), ConfigError, JSON.stringify(options));
  }
  assert.throws(() => advancedLayerSelector({ skipLayerTypes: ["pooling"] }), ConfigError);
  const updatable = new MLModel(create(ModelSchema, { ...model.spec, isUpdatable: true }));
  await assert.rejects(quantizeWeights(updatable, { nbits: 16 }), ConfigError);
});

const ipOf = (model: MLModel, index = 0) => {
  const kind = neuralNetworkOf(model.spec)!.layers[index].layer;
  assert.equal(kind.case, "innerProduct");
  return kind.value;
};

test("spec versions rise to what the storage needs, and the input is untouched", async () => {
  const model = new MLModel(neuralNetworkModel([innerProduct("ip", "x", "y", 4, 2)]));
  assert.equal((await quantizeWeights(model, { nbits: 16 })).spec.specificationVersion, 2);
  const quantized = await quantizeWeights(model, { nbits: 4 });
  assert.equal(quantized.spec.specificationVersion, 3);
  assert.equal(ipOf(model).weights!.floatValue.length, 8);
  assert.equal(ipOf(quantized).weights!.rawValue.length, 4);
  const newer = new MLModel(neuralNetworkModel([innerProduct("ip", "x", "y", 4, 2)], 5));
  assert.equal((await quantizeWeights(newer, { nbits: 4 })).spec.specificationVersion, 5);
});

test("custom look-up tables come from the given function", async () => {
  const model = new MLModel(neuralNetworkModel([innerProduct("ip", "x", "y", 4, 2)]));
  const out = await quantizeWeights(model, {
    nbits: 1,
    mode: "custom_lut",
    lutFunction: (_nbits, weights) => ({
      lut: [-0.5, 0.5],
      indices: Array.from(weights, (w) => (w < 0 ? 0 : 1)),
    }),
  });
  const weights = ipOf(out).weights!;
  const table = weights.quantization!.QuantizationType;
  assert.equal(table.case, "lookupTableQuantization");
  assert.deepEqual(table.value!.floatValue, [-0.5, 0.5]);
  const signs = ipOf(model).weights!.floatValue.map((w) => (w < 0 ? 0 : 1));
  assert.equal(weights.rawValue[0], parseInt(signs.join(""), 2));
  await assert.rejects(
    quantizeWeights(model, {
      nbits: 1,
      mode: "custom_lut",
      lutFunction: () => ({ lut: [0, 1], indices: [2] }),
    }),
    ConfigError,
  );
});

test("selectors choose layers and biases", async () => {
  const layers = [innerProduct("small", "x", "h", 2, 2), innerProduct("big", "h", "y", 8, 8, 5)];
  const model = new MLModel(neuralNetworkModel(layers));
  const only = await quantizeWeights(model, {
    nbits: 8,
    selector: matrixMultiplyLayerSelector({ minimumWeightCount: 10 }),
  });
  assert.equal(ipOf(only, 0).weights!.floatValue.length, 4);
  assert.equal(ipOf(only, 1).weights!.rawValue.length, 64);
  const noBias = await quantizeWeights(model, {
    nbits: 8,
    selector: advancedLayerSelector({ skipLayerTypes: ["bias"] }),
  });
  assert.equal(ipOf(noBias, 1).bias!.floatValue.length, 8);
  assert.equal(ipOf(noBias, 1).weights!.floatValue.length, 0);
  const custom = await quantizeWeights(model, {
    nbits: 8,
    selector: (l, field) => defaultLayerSelector(l) && l.name === "small" && field !== "bias",
  });
  assert.equal(ipOf(custom, 0).weights!.rawValue.length, 4);
  assert.equal(ipOf(custom, 0).bias!.floatValue.length, 2);
  assert.equal(ipOf(custom, 1).weights!.floatValue.length, 64);
  const unknown = new MLModel(
    neuralNetworkModel([layer({ name: "act", layer: { case: "activation", value: {} } })]),
  );
  await assert.rejects(
    quantizeWeights(unknown, { nbits: 8, selector: () => true }),
    UnsupportedError,
  );
});

test("networks nested in branches and pipelines are quantized", async () => {
  const branch = layer({
    name: "if",
    layer: {
      case: "branch",
      value: { ifBranch: { layers: [innerProduct("inner", "x", "y", 4, 4)] } },
    },
  });
  const inner = neuralNetworkModel([branch]);
  const pipeline = new MLModel(
    create(ModelSchema, {
      specificationVersion: 4,
      Type: { case: "pipeline", value: { models: [inner], names: ["net"] } },
    }),
  );
  const out = await quantizeWeights(pipeline, { nbits: 2 });
  assert.equal(out.spec.specificationVersion, 4);
  const nested = out.spec.Type.case === "pipeline" ? out.spec.Type.value.models[0] : undefined;
  assert.equal(nested?.specificationVersion, 3);
  const [{ layer: ifLayer }, { layer: innerLayer }] = [...walkLayers(neuralNetworkOf(nested!)!)];
  assert.equal(ifLayer.name, "if");
  const weights = (innerLayer.layer.value as { weights: WeightParams }).weights;
  assert.equal(weights.rawValue.length, 4);
  assert.equal(Number(weights.quantization!.numberOfBits), 2);
});

test("below 16 bits, a following bias or scale layer is fused first", async () => {
  const ip = innerProduct("ip", "x", "h", 2, 2);
  const scale = layer({
    name: "scale",
    input: ["h"],
    output: ["s"],
    layer: {
      case: "scale",
      value: {
        shapeScale: [2n],
        scale: floatWeights([2, 3]),
        hasBias: true,
        shapeBias: [2n],
        bias: floatWeights([1, 1]),
      },
    },
  });
  const bias = layer({
    name: "bias",
    input: ["s"],
    output: ["y"],
    layer: { case: "bias", value: { shape: [2n], bias: floatWeights([0.5, -0.5]) } },
  });
  const model = new MLModel(neuralNetworkModel([ip, scale, bias]));
  const fp16 = await quantizeWeights(model, { nbits: 16 });
  assert.equal(neuralNetworkOf(fp16.spec)!.layers.length, 3);
  const fused = await decompressNeuralNetwork(await quantizeWeights(model, { nbits: 8 }));
  const layers: NeuralNetworkLayer[] = neuralNetworkOf(fused.spec)!.layers;
  assert.deepEqual(
    layers.map((l) => l.name),
    ["ip"],
  );
  assert.deepEqual(layers[0].output, ["y"]);
  const w = noise(4);
  const b = noise(2, 2);
  const expectWeights = [w[0] * 2, w[1] * 2, w[2] * 3, w[3] * 3];
  const expectBias = [b[0] * 2 + 1 + 0.5, b[1] * 3 + 1 - 0.5];
  const params = ipOf(fused);
  params.weights!.floatValue.forEach((v, i) => assert.ok(Math.abs(v - expectWeights[i]) < 0.02));
  params.bias!.floatValue.forEach((v, i) => assert.ok(Math.abs(v - expectBias[i]) < 0.02));
});

test("a convolution absorbs the batchnorm it alone feeds (per output channel)", async () => {
  const weights = noise(2 * 3, 4);
  const conv = layer({
    name: "conv",
    input: ["x"],
    output: ["c"],
    layer: {
      case: "convolution",
      value: {
        outputChannels: 2n,
        kernelChannels: 3n,
        nGroups: 1n,
        kernelSize: [1n, 1n],
        weights: floatWeights(weights),
      },
    },
  });
  const bn = layer({
    name: "bn",
    input: ["c"],
    output: ["y"],
    layer: {
      case: "batchnorm",
      value: {
        channels: 2n,
        epsilon: 0,
        gamma: floatWeights([2, 1]),
        beta: floatWeights([0.5, 0]),
        mean: floatWeights([1, -1]),
        variance: floatWeights([4, 1]),
      },
    },
  });
  const instance = layer({
    name: "in",
    input: ["y"],
    output: ["z"],
    layer: {
      case: "batchnorm",
      value: { channels: 2n, instanceNormalization: true, gamma: floatWeights([1, 1]) },
    },
  });
  const out = await decompressNeuralNetwork(
    await quantizeWeights(new MLModel(neuralNetworkModel([conv, bn, instance])), {
      nbits: 8,
      selector: () => true,
    }),
  );
  const layers = neuralNetworkOf(out.spec)!.layers;
  assert.deepEqual(
    layers.map((l) => [l.name, l.output[0]]),
    [
      ["conv", "y"],
      ["in", "z"],
    ],
  );
  const fused = layers[0].layer.value as {
    weights: WeightParams;
    bias: WeightParams;
    hasBias: boolean;
  };
  assert.equal(fused.hasBias, true);
  const factor = [2 / 2, 1 / 1];
  fused.weights.floatValue.forEach((v, i) =>
    assert.ok(Math.abs(v - factor[Math.floor(i / 3)] * weights[i]) < 0.01),
  );
  fused.bias.floatValue.forEach((v, c) =>
    assert.ok(Math.abs(v - [-1 + 0.5, 1][c]) < 0.01, `bias ${c}: ${v}`),
  );
});

test("k-means on worker threads gives the same model as inline", async () => {
  const model = new MLModel(
    neuralNetworkModel([
      innerProduct("a", "x", "h", 64, 32, 11),
      innerProduct("b", "h", "y", 32, 16, 12),
    ]),
  );
  const inline = await quantizeWeights(model, { nbits: 3, mode: "kmeans" });
  const pool = new WorkerPool(2);
  try {
    const threaded = await quantizeWeights(model, { nbits: 3, mode: "kmeans_lut", pool });
    assert.ok(
      Buffer.from(encodeModel(threaded.spec)).equals(Buffer.from(encodeModel(inline.spec))),
    );
  } finally {
    await pool.close();
  }
  const table = ipOf(inline).weights!.quantization!.QuantizationType;
  assert.equal(table.case, "lookupTableQuantization");
  assert.equal(table.value!.floatValue.length, 8);
});

test("an error after k-means work has started is reported once, as itself", async () => {
  const bad = innerProduct("bad", "h", "y", 4, 4);
  bad.output = ["z"];
  (bad.layer.value as { weights: WeightParams }).weights.floatValue.push(1);
  const model = new MLModel(neuralNetworkModel([innerProduct("ok", "x", "h", 4, 4), bad]));
  await assert.rejects(quantizeWeights(model, { nbits: 2, mode: "kmeans_lut" }), UnsupportedError);
  const unknown = layer({ name: "act", layer: { case: "activation", value: {} } });
  const mixed = new MLModel(neuralNetworkModel([innerProduct("ok", "x", "h", 4, 4), unknown]));
  await assert.rejects(
    quantizeWeights(mixed, { nbits: 2, mode: "kmeans_lut", selector: () => true }),
    /act: activation layers cannot be quantized/,
  );
});
