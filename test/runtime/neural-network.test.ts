import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ConfigError, FormatError, UnsupportedError } from "../../src/errors.js";
import { ModelSchema } from "../../src/format/gen/Model_pb.js";
import type { NeuralNetworkLayerSchema } from "../../src/format/gen/NeuralNetwork_pb.js";
import { loadModel } from "../../src/format/model.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { compareOutputs } from "../../src/runtime/compare.js";
import { randomSamples } from "../../src/runtime/inputs.js";
import { NeuralNetworkInterpreter } from "../../src/runtime/neural-network.js";
import { loadRunner } from "../../src/runtime/runner.js";
import { ndNetwork } from "../support/neural-networks.js";
import { GOLDEN, SHARED } from "../support/paths.js";

type LayerInit = MessageInitShape<typeof NeuralNetworkLayerSchema>;

const FLOAT32 = 65568;
const arrayFeature = (name: string, shape: number[]) => ({
  name,
  type: {
    Type: {
      case: "multiArrayType" as const,
      value: { shape: shape.map(BigInt), dataType: FLOAT32 },
    },
  },
});

/** A neural network with array inputs of the given shapes and the named outputs. */
function network(inputs: Record<string, number[]>, layers: LayerInit[], outputs: string[]) {
  return create(ModelSchema, {
    specificationVersion: 4,
    description: {
      input: Object.entries(inputs).map(([name, shape]) => arrayFeature(name, shape)),
      output: outputs.map((name) => arrayFeature(name, [])),
    },
    Type: { case: "neuralNetwork", value: { layers } },
  });
}

const weights = (values: number[]) => ({ floatValue: values });
const ramp = (n: number, scale = 1, offset = 0) =>
  Array.from({ length: n }, (_, i) => ((i * 37) % 11) * scale + offset);

function run(
  spec: ReturnType<typeof network>,
  inputs: Record<string, { shape: number[]; values: number[] }>,
) {
  const interpreter = NeuralNetworkInterpreter.fromSpec(spec);
  const tensors = Object.fromEntries(
    Object.entries(inputs).map(([name, { shape, values }]) => [
      name,
      { dtype: "fp32" as const, shape, data: Float32Array.from(values) },
    ]),
  );
  return interpreter.predict(tensors);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string) {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 1e-5 * Math.max(1, Math.abs(expected[i]));
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tolerance,
      `${label}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

/** Direct convolution (no unfolding), for checking the layer. */
function directConv(
  x: number[],
  [c, h, w]: number[],
  kernel: number[],
  [o, kh, kw]: number[],
  groups: number,
  stride: number,
  [top, left]: number[],
  [oh, ow]: number[],
  bias: number[],
): number[] {
  const cg = c / groups;
  const out: number[] = [];
  for (let oc = 0; oc < o; oc++) {
    const g = Math.floor(oc / (o / groups));
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let sum = bias[oc];
        for (let ic = 0; ic < cg; ic++) {
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              const iy = oy * stride + ky - top;
              const ix = ox * stride + kx - left;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const v = x[((g * cg + ic) * h + iy) * w + ix];
              sum += v * kernel[((oc * cg + ic) * kh + ky) * kw + kx];
            }
          }
        }
        out.push(sum);
      }
    }
  }
  return out;
}

test("convolutions with same and explicit padding, groups and strides match a direct sum", () => {
  const x = ramp(4 * 5 * 5, 0.25, -1);
  const kernel = ramp(6 * 2 * 3 * 3, 0.1, -0.5);
  const bias = [0.5, -1, 0, 2, 0.25, 1];
  const conv = (padding: LayerInit["layer"], output: string): LayerInit => ({
    name: output,
    input: ["x"],
    output: [output],
    layer: padding,
  });
  const params = {
    outputChannels: 6n,
    kernelChannels: 2n,
    nGroups: 2n,
    kernelSize: [3n, 3n],
    stride: [2n, 2n],
    hasBias: true,
    weights: weights(kernel),
    bias: weights(bias),
  };
  const spec = network(
    { x: [4, 5, 5] },
    [
      // "same" with stride 2 on 5: 3 outputs, padding 1 before and 1 after.
      conv(
        {
          case: "convolution",
          value: { ...params, ConvolutionPaddingType: { case: "same", value: {} } },
        },
        "same",
      ),
      // Explicit border amounts: 2 rows on top, none at the bottom, 1 column each side.
      conv(
        {
          case: "convolution",
          value: {
            ...params,
            ConvolutionPaddingType: {
              case: "valid",
              value: {
                paddingAmounts: {
                  borderAmounts: [
                    { startEdgeSize: 2n, endEdgeSize: 0n },
                    { startEdgeSize: 1n, endEdgeSize: 1n },
                  ],
                },
              },
            },
          },
        },
        "bordered",
      ),
    ],
    ["same", "bordered"],
  );
  const out = run(spec, { x: { shape: [4, 5, 5], values: x } });
  assert.deepEqual(out.same.shape, [6, 3, 3]);
  const expectSame = directConv(x, [4, 5, 5], kernel, [6, 3, 3], 2, 2, [1, 1], [3, 3], bias);
  assertClose(out.same.data as Float32Array, expectSame, "same");
  assert.deepEqual(out.bordered.shape, [6, 3, 3]);
  const expectBordered = directConv(x, [4, 5, 5], kernel, [6, 3, 3], 2, 2, [2, 1], [3, 3], bias);
  assertClose(out.bordered.data as Float32Array, expectBordered, "bordered");
});

test("a deconvolution scatters each input through its kernel (groups, stride, valid padding)", () => {
  const [c, h, w, o, k, stride, groups] = [4, 3, 2, 6, 3, 2, 2];
  const x = ramp(c * h * w, 0.5, -1);
  // [input channels, output channels per group, kH, kW]
  const kernel = ramp(c * (o / groups) * k * k, 0.25, -1);
  const bias = ramp(o, 1, -3);
  const spec = network(
    { x: [c, h, w] },
    [
      {
        name: "up",
        input: ["x"],
        output: ["up"],
        layer: {
          case: "convolution",
          value: {
            isDeconvolution: true,
            outputChannels: BigInt(o),
            kernelChannels: BigInt(c),
            nGroups: BigInt(groups),
            kernelSize: [BigInt(k), BigInt(k)],
            stride: [BigInt(stride), BigInt(stride)],
            dilationFactor: [3n, 3n], // ignored by deconvolutions
            hasBias: true,
            weights: weights(kernel),
            bias: weights(bias),
            ConvolutionPaddingType: { case: "valid", value: {} },
          },
        },
      },
    ],
    ["up"],
  );
  const out = run(spec, { x: { shape: [c, h, w], values: x } });
  // H_out = (H_in - 1) · stride + kernel size.
  const [oh, ow] = [(h - 1) * stride + k, (w - 1) * stride + k];
  assert.deepEqual(out.up.shape, [o, oh, ow]);
  const expected = Array.from({ length: o * oh * ow }, (_, i) => bias[Math.floor(i / (oh * ow))]);
  const perGroupIn = c / groups;
  const perGroupOut = o / groups;
  for (let ic = 0; ic < c; ic++) {
    const g = Math.floor(ic / perGroupIn);
    for (let og = 0; og < perGroupOut; og++) {
      const oc = g * perGroupOut + og;
      for (let iy = 0; iy < h; iy++) {
        for (let ix = 0; ix < w; ix++) {
          for (let ky = 0; ky < k; ky++) {
            for (let kx = 0; kx < k; kx++) {
              const weight = kernel[((ic * perGroupOut + og) * k + ky) * k + kx];
              expected[(oc * oh + iy * stride + ky) * ow + ix * stride + kx] +=
                x[(ic * h + iy) * w + ix] * weight;
            }
          }
        }
      }
    }
  }
  assertClose(out.up.data as Float32Array, expected, "up");
});

test("pooling rounds up with includeLastPixel, down with valid padding, and pools globally", () => {
  const x = ramp(36, 1);
  const pool = (name: string, value: object): LayerInit => ({
    name,
    input: ["x"],
    output: [name],
    layer: { case: "pooling", value } as LayerInit["layer"],
  });
  const spec = network(
    { x: [1, 6, 6] },
    [
      pool("caffe", {
        type: 0,
        kernelSize: [3n, 3n],
        stride: [2n, 2n],
        PoolingPaddingType: { case: "includeLastPixel", value: { paddingAmounts: [0n, 0n] } },
      }),
      pool("floor", {
        type: 0,
        kernelSize: [3n, 3n],
        stride: [2n, 2n],
        PoolingPaddingType: { case: "valid", value: {} },
      }),
      pool("mean", { type: 1, globalPooling: true }),
    ],
    ["caffe", "floor", "mean"],
  );
  const out = run(spec, { x: { shape: [1, 6, 6], values: x } });
  const max = (rows: number[], cols: number[]) =>
    Math.max(...rows.flatMap((r) => cols.filter((c) => c < 6).map((c) => x[r * 6 + c])));
  const windows = [0, 2, 4].map((s) => [s, s + 1, s + 2].filter((i) => i < 6));
  assert.deepEqual(out.caffe.shape, [1, 3, 3]);
  assertClose(
    out.caffe.data as Float32Array,
    windows.flatMap((rows) => windows.map((cols) => max(rows, cols))),
    "caffe",
  );
  assert.deepEqual(out.floor.shape, [1, 2, 2]);
  assertClose(out.mean.data as Float32Array, [x.reduce((a, b) => a + b) / 36], "mean");
});

test("activations, unary functions and batchnorm follow their formulas", () => {
  const x = [-2, -0.5, 0, 0.5, 3, -7, 1.5, 6];
  const layer = (name: string, l: LayerInit["layer"]): LayerInit => ({
    name,
    input: ["x"],
    output: [name],
    layer: l,
  });
  const activation = (name: string, type: string, value: object = {}) =>
    layer(name, {
      case: "activation",
      value: { NonlinearityType: { case: type, value } },
    } as LayerInit["layer"]);
  const spec = network(
    { x: [2, 2, 2] },
    [
      activation("leaky", "leakyReLU", { alpha: 0.1 }),
      activation("hard", "sigmoidHard", { alpha: 0.2, beta: 0.5 }),
      activation("elu", "ELU", { alpha: 1.5 }),
      activation("prelu", "PReLU", { alpha: weights([0.5, 0.25]) }),
      layer("clip", { case: "unary", value: { type: 7, alpha: -1 } }),
      layer("rsqrt", { case: "unary", value: { type: 1, scale: 2, shift: 20 } }),
      layer("bn", {
        case: "batchnorm",
        value: {
          channels: 2n,
          epsilon: 0.01,
          gamma: weights([2, -1]),
          beta: weights([0.5, 1]),
          mean: weights([1, -1]),
          variance: weights([4, 0.25]),
        },
      }),
    ],
    ["leaky", "hard", "elu", "prelu", "clip", "rsqrt", "bn"],
  );
  const out = run(spec, { x: { shape: [2, 2, 2], values: x } });
  const expect = (name: string, f: (v: number, c: number) => number) =>
    assertClose(
      out[name].data as Float32Array,
      x.map((v, i) => f(v, Math.floor(i / 4))),
      name,
    );
  expect("leaky", (v) => (v >= 0 ? v : 0.1 * v));
  expect("hard", (v) => Math.min(1, Math.max(0, 0.2 * v + 0.5)));
  expect("elu", (v) => (v >= 0 ? v : 1.5 * (Math.exp(v) - 1)));
  expect("prelu", (v, c) => (v >= 0 ? v : [0.5, 0.25][c] * v));
  expect("clip", (v) => Math.max(-1, v));
  expect("rsqrt", (v) => 1 / Math.sqrt(2 * v + 20 + 1e-6));
  const [gamma, beta, mean, variance] = [
    [2, -1],
    [0.5, 1],
    [1, -1],
    [4, 0.25],
  ];
  expect("bn", (v, c) => (gamma[c] * (v - mean[c])) / Math.sqrt(variance[c] + 0.01) + beta[c]);
});

test("a classifier scales its BGR image, and reports probabilities and the most likely label", () => {
  const labels = ["cat", "dog", "fox"];
  const weight = ramp(3 * 12, 0.001, -0.005);
  const spec = create(ModelSchema, {
    specificationVersion: 4,
    description: {
      input: [
        {
          name: "image",
          type: { Type: { case: "imageType", value: { width: 2n, height: 2n, colorSpace: 30 } } },
        },
      ],
      output: [
        { name: "label", type: { Type: { case: "stringType", value: {} } } },
        {
          name: "probs",
          type: {
            Type: {
              case: "dictionaryType",
              value: { KeyType: { case: "stringKeyType", value: {} } },
            },
          },
        },
      ],
      predictedFeatureName: "label",
      predictedProbabilitiesName: "probs",
    },
    Type: {
      case: "neuralNetworkClassifier",
      value: {
        preprocessing: [
          {
            featureName: "image",
            preprocessor: {
              case: "scaler",
              value: { channelScale: 0.5, blueBias: -1, greenBias: 0, redBias: 2 },
            },
          },
        ],
        ClassLabels: { case: "stringClassLabels", value: { vector: labels } },
        layers: [
          {
            name: "fc",
            input: ["image"],
            output: ["scores"],
            layer: {
              case: "innerProduct",
              value: {
                inputChannels: 12n,
                outputChannels: 3n,
                hasBias: true,
                weights: weights(weight),
                bias: weights([0.1, -0.2, 0.3]),
              },
            },
          },
          {
            name: "softmax",
            input: ["scores"],
            output: ["probs"],
            layer: { case: "softmax", value: {} },
          },
        ],
      },
    },
  });
  const interpreter = NeuralNetworkInterpreter.fromSpec(spec);
  assert.deepEqual(interpreter.inputs[0], {
    name: "image",
    dtype: "fp32",
    shape: [3, 2, 2],
    image: true,
  });
  const pixels = [10, 200, 30, 40, 255, 0, 128, 64, 5, 90, 180, 220];
  const out = interpreter.predict({
    image: { dtype: "fp32", shape: [3, 2, 2], data: Float32Array.from(pixels) },
  });
  // Channels in BGR order: blue bias first.
  const scaled = pixels.map((p, i) => p * 0.5 + [-1, 0, 2][Math.floor(i / 4)]);
  const scores = [0, 1, 2].map(
    (o) => [0.1, -0.2, 0.3][o] + scaled.reduce((a, v, i) => a + v * weight[o * 12 + i], 0),
  );
  const exp = scores.map((s) => Math.exp(s - Math.max(...scores)));
  const probs = exp.map((e) => e / exp.reduce((a, b) => a + b));
  assertClose(out.probs.data as Float32Array, probs, "probs");
  assert.deepEqual(out.label.data, [labels[probs.indexOf(Math.max(...probs))]]);
});

test("concat, channel-last flatten, broadcast add, scaled multiply, upsampling and embedding", () => {
  const a = ramp(2 * 2 * 3, 1);
  const b = ramp(1 * 2 * 3, 0.5, 1);
  const bias = [10, 20];
  const spec = network(
    { a: [2, 2, 3], b: [1, 2, 3], bias: [2, 1, 1], ids: [1] },
    [
      { name: "cat", input: ["a", "b"], output: ["cat"], layer: { case: "concat", value: {} } },
      {
        name: "flat",
        input: ["cat"],
        output: ["flat"],
        layer: { case: "flatten", value: { mode: 1 } },
      },
      { name: "sum", input: ["a", "bias"], output: ["sum"], layer: { case: "add", value: {} } },
      {
        name: "twice",
        input: ["b"],
        output: ["twice"],
        layer: { case: "multiply", value: { alpha: 2 } },
      },
      {
        name: "nearest",
        input: ["b"],
        output: ["nearest"],
        layer: { case: "upsample", value: { scalingFactor: [2n, 2n] } },
      },
      {
        name: "bilinear",
        input: ["b"],
        output: ["bilinear"],
        layer: {
          case: "upsample",
          value: { scalingFactor: [2n, 1n], mode: 1, linearUpsampleMode: 1 },
        },
      },
      {
        name: "emb",
        input: ["ids"],
        output: ["emb"],
        layer: {
          case: "embedding",
          value: {
            inputDim: 3n,
            outputChannels: 2n,
            hasBias: true,
            weights: weights([1, 2, 3, 4, 5, 6]),
            bias: weights([0.5, 0.25]),
          },
        },
      },
    ],
    ["flat", "sum", "twice", "nearest", "bilinear", "emb"],
  );
  const out = run(spec, {
    a: { shape: [2, 2, 3], values: a },
    b: { shape: [1, 2, 3], values: b },
    bias: { shape: [2, 1, 1], values: bias },
    ids: { shape: [1], values: [2] },
  });
  const cat = [...a, ...b]; // [3, 2, 3]
  const channelLast = [0, 1].flatMap((y) =>
    [0, 1, 2].flatMap((x) => [0, 1, 2].map((c) => cat[(c * 2 + y) * 3 + x])),
  );
  assertClose(out.flat.data as Float32Array, channelLast, "flat");
  assertClose(
    out.sum.data as Float32Array,
    a.map((v, i) => v + bias[Math.floor(i / 6)]),
    "sum",
  );
  assertClose(
    out.twice.data as Float32Array,
    b.map((v) => 2 * v),
    "twice",
  );
  assert.deepEqual(out.nearest.shape, [1, 4, 6]);
  assertClose(
    out.nearest.data as Float32Array,
    [0, 1, 2, 3].flatMap((y) => [0, 1, 2, 3, 4, 5].map((x) => b[(y >> 1) * 3 + (x >> 1)])),
    "nearest",
  );
  // Aligned corners: output rows 0..3 sample input rows at 0, 1/3, 2/3, 1.
  assertClose(
    out.bilinear.data as Float32Array,
    [0, 1 / 3, 2 / 3, 1].flatMap((t) => [0, 1, 2].map((x) => b[x] * (1 - t) + b[3 + x] * t)),
    "bilinear",
  );
  // Index 2 reads column 2 of the [2, 3] table.
  assertClose(out.emb.data as Float32Array, [3 + 0.5, 6 + 0.25], "emb");
});

test("an embedding of no indices is a [0, channels] blob, its shape matching its data", () => {
  const spec = network(
    { ids: [1] },
    [
      {
        name: "emb",
        input: ["ids"],
        output: ["emb"],
        layer: {
          case: "embedding",
          value: { inputDim: 3n, outputChannels: 2n, weights: weights([1, 2, 3, 4, 5, 6]) },
        },
      },
    ],
    ["emb"],
  );
  // Exact mapping: inputs come in the shape given, [0] included.
  if (spec.Type.case !== "neuralNetwork") throw new Error("not a neural network");
  spec.Type.value.arrayInputShapeMapping = 1;
  // Fuzz seed 9797 case 1622: the output claimed [2] over no values, and predict wrote it.
  const out = run(spec, { ids: { shape: [0], values: [] } });
  assert.deepEqual(out.emb.shape, [0, 2]);
  assert.equal(out.emb.data.length, 0);
});

test("a layer the interpreter cannot run is named before anything runs", () => {
  const spec = network(
    { x: [4] },
    [{ name: "norm", input: ["x"], output: ["y"], layer: { case: "custom", value: {} } }],
    ["y"],
  );
  assert.throws(
    () => NeuralNetworkInterpreter.fromSpec(spec),
    (error: unknown) =>
      error instanceof UnsupportedError && /layer custom \(first: "norm"\)/.test(error.message),
  );
});

test("quantized neural-network weights run as their decompressed values", async () => {
  const quantized = await loadModel(join(GOLDEN, "cases/nn_linear8.mlmodel"));
  const decompressed = await decompressWeights(quantized);
  try {
    const a = await loadRunner(quantized);
    const b = await loadRunner(decompressed);
    const samples = randomSamples(a.inputs, 2, 3);
    for (const sample of samples) assert.deepEqual(a.predict(sample), b.predict(sample));
  } finally {
    await Promise.all([quantized.close(), decompressed.close()]);
  }
});

const MODELS = SHARED && join(SHARED, "models");
const squeezenet = MODELS && join(MODELS, "apple_squeezenet_fp16/SqueezeNetFP16.mlmodel");

test(
  // (Every shared network runs in nn-shared-compare.test.ts.)
  "Apple's 8-bit LUT SqueezeNet agrees with the fp16 one",
  { skip: !squeezenet || !existsSync(squeezenet) },
  async () => {
    if (!MODELS || !squeezenet) return;
    const reference = await loadModel(squeezenet);
    const candidate = await loadModel(
      join(MODELS, "apple_squeezenet_int8lut/SqueezeNetInt8LUT.mlmodel"),
    );
    const [a, b] = await Promise.all([loadRunner(reference), loadRunner(candidate)]);
    const samples = randomSamples(a.inputs, 3, 1);
    const [probs] = compareOutputs(
      samples.map((s) => a.predict(s)),
      samples.map((s) => b.predict(s)),
    ).filter((o) => o.name === "classLabelProbs");
    assert.ok(probs.snrDb > 15 && probs.top1Agreement === 1, JSON.stringify(probs));
    await Promise.all([reference.close(), candidate.close()]);
  },
);

test("scale, bias, constants, padding, crops and normalizations follow their formulas", () => {
  const x = ramp(2 * 3 * 4, 0.5, -2); // [2, 3, 4]
  const at = (c: number, y: number, xx: number) => x[(c * 3 + y) * 4 + xx];
  const one = (name: string, l: LayerInit["layer"], inputs = ["x"]): LayerInit => ({
    name,
    input: inputs,
    output: [name],
    layer: l,
  });
  const border = (top: bigint, bottom: bigint, left: bigint, right: bigint) => ({
    borderAmounts: [
      { startEdgeSize: top, endEdgeSize: bottom },
      { startEdgeSize: left, endEdgeSize: right },
    ],
  });
  const spec = network(
    { x: [2, 3, 4], small: [2, 1, 2] },
    [
      one("scaled", {
        case: "scale",
        value: {
          shapeScale: [2n],
          scale: weights([2, -1]),
          hasBias: true,
          shapeBias: [1n],
          bias: weights([0.5]),
        },
      }),
      one("biased", { case: "bias", value: { shape: [1n, 3n, 4n], bias: weights(ramp(12)) } }),
      one(
        "constant",
        { case: "loadConstant", value: { shape: [1n, 1n, 2n], data: weights([7, 8]) } },
        [],
      ),
      one("reflected", {
        case: "padding",
        value: {
          PaddingType: { case: "reflection", value: {} },
          paddingAmounts: border(1n, 0n, 0n, 2n),
        },
      }),
      one("cropped", { case: "crop", value: { cropAmounts: border(1n, 1n, 0n, 2n) } }),
      one("croppedLike", { case: "crop", value: { offset: [2n, 1n] } }, ["x", "small"]),
      one("lrn", { case: "lrn", value: { alpha: 0.5, beta: 0.75, localSize: 3n, k: 2 } }),
      one("l2", { case: "l2normalize", value: { epsilon: 1e-6 } }),
      one("mvn", { case: "mvn", value: { normalizeVariance: true, epsilon: 1e-5 } }),
    ],
    ["scaled", "biased", "constant", "reflected", "cropped", "croppedLike", "lrn", "l2", "mvn"],
  );
  const small = [1, 2, 3, 4];
  const out = run(spec, {
    x: { shape: [2, 3, 4], values: x },
    small: { shape: [2, 1, 2], values: small },
  });
  const grid = (shape: number[], f: (c: number, y: number, xx: number) => number) =>
    Array.from({ length: shape[0] * shape[1] * shape[2] }, (_, i) =>
      f(Math.floor(i / (shape[1] * shape[2])), Math.floor(i / shape[2]) % shape[1], i % shape[2]),
    );
  const check = (
    name: string,
    shape: number[],
    f: (c: number, y: number, xx: number) => number,
  ) => {
    assert.deepEqual(out[name].shape, shape, `${name} shape`);
    assertClose(out[name].data as Float32Array, grid(shape, f), name);
  };
  check("scaled", [2, 3, 4], (c, y, xx) => at(c, y, xx) * [2, -1][c] + 0.5);
  check("biased", [2, 3, 4], (c, y, xx) => at(c, y, xx) + ramp(12)[y * 4 + xx]);
  assertClose(out.constant.data as Float32Array, [7, 8], "constant");
  // Reflection: row -1 mirrors row 1, columns 4 and 5 mirror columns 2 and 1.
  const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  check("reflected", [2, 4, 6], (c, y, xx) => at(c, reflect(y - 1, 3), reflect(xx, 4)));
  check("cropped", [2, 1, 2], (c, y, xx) => at(c, y + 1, xx));
  check("croppedLike", [2, 1, 2], (c, y, xx) => at(c, y + 2, xx + 1));
  check("lrn", [2, 3, 4], (c, y, xx) => {
    const squares = [0, 1].reduce((a, j) => a + at(j, y, xx) ** 2, 0);
    return at(c, y, xx) / (2 + (0.5 / 3) * squares) ** 0.75;
  });
  const norm = Math.sqrt(x.reduce((a, v) => a + v * v, 0) + 1e-6);
  check("l2", [2, 3, 4], (c, y, xx) => at(c, y, xx) / norm);
  const channel = (c: number) => x.slice(c * 12, (c + 1) * 12);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  check("mvn", [2, 3, 4], (c, y, xx) => {
    const values = channel(c);
    const m = mean(values);
    return (at(c, y, xx) - m) / Math.sqrt(mean(values.map((v) => (v - m) ** 2)) + 1e-5);
  });
});

test("reshape, permute, split, slice, elementwise, dot and reduce move and combine values", () => {
  const x = ramp(2 * 3 * 4, 1, -5); // [2, 3, 4]
  const at = (c: number, y: number, xx: number) => x[(c * 3 + y) * 4 + xx];
  const y = ramp(24, 0.25, 1);
  const one = (
    name: string,
    l: LayerInit["layer"],
    inputs = ["x"],
    outputs = [name],
  ): LayerInit => ({
    name,
    input: inputs,
    output: outputs,
    layer: l,
  });
  const spec = network(
    { x: [2, 3, 4], y: [2, 3, 4], u: [4], v: [4] },
    [
      one("flatFirst", { case: "reshape", value: { targetShape: [1n, 4n, 6n, 1n] } }),
      one("flatLast", { case: "reshape", value: { targetShape: [4n, 6n, 1n], mode: 1 } }),
      one("permuted", { case: "permute", value: { axis: [0n, 2n, 3n, 1n] } }),
      one("split", { case: "split", value: { nOutputs: 2n } }, ["x"], ["first", "second"]),
      one("sliced", {
        case: "slice",
        value: { startIndex: 1n, endIndex: -1n, stride: 2n, axis: 2 },
      }),
      one("mean", { case: "average", value: {} }, ["x", "y"]),
      one("largest", { case: "max", value: {} }, ["x", "y"]),
      one("cosine", { case: "dot", value: { cosineSimilarity: true } }, ["u", "v"]),
      one("sumHW", { case: "reduce", value: { mode: 0, axis: 1 } }),
      one("argmaxC", { case: "reduce", value: { mode: 9, axis: 2 } }),
      one("l2W", { case: "reduce", value: { mode: 6, axis: 4 } }),
    ],
    [
      "flatFirst",
      "flatLast",
      "permuted",
      "first",
      "second",
      "sliced",
      "mean",
      "largest",
      "cosine",
      "sumHW",
      "argmaxC",
      "l2W",
    ],
  );
  const u = [1, 2, 3, 4];
  const v = [-1, 0.5, 2, 1];
  const out = run(spec, {
    x: { shape: [2, 3, 4], values: x },
    y: { shape: [2, 3, 4], values: y },
    u: { shape: [4], values: u },
    v: { shape: [4], values: v },
  });
  assert.deepEqual(out.flatFirst.shape, [4, 6, 1]);
  assertClose(out.flatFirst.data as Float32Array, x, "flatFirst");
  // Channel last: values in H, W, C order, read back as [H=6, W=1, C=4] and laid out C first.
  const hwc = [0, 1, 2].flatMap((yy) =>
    [0, 1, 2, 3].flatMap((xx) => [0, 1].map((c) => at(c, yy, xx))),
  );
  assertClose(
    out.flatLast.data as Float32Array,
    [0, 1, 2, 3].flatMap((c) => [0, 1, 2, 3, 4, 5].map((h) => hwc[h * 4 + c])),
    "flatLast",
  );
  // [Seq, C, H, W] → [Seq, H, W, C].
  assert.deepEqual(out.permuted.shape, [3, 4, 2]);
  assertClose(
    out.permuted.data as Float32Array,
    [0, 1, 2].flatMap((yy) => [0, 1, 2, 3].flatMap((xx) => [0, 1].map((c) => at(c, yy, xx)))),
    "permuted",
  );
  assertClose(out.first.data as Float32Array, x.slice(0, 12), "first");
  assertClose(out.second.data as Float32Array, x.slice(12), "second");
  // Width 4, from 1 to -1 (that is 3), every second column: column 1 only.
  assert.deepEqual(out.sliced.shape, [2, 3, 1]);
  assertClose(
    out.sliced.data as Float32Array,
    [0, 1].flatMap((c) => [0, 1, 2].map((yy) => at(c, yy, 1))),
    "sliced",
  );
  assertClose(
    out.mean.data as Float32Array,
    x.map((a, i) => (a + y[i]) / 2),
    "mean",
  );
  assertClose(
    out.largest.data as Float32Array,
    x.map((a, i) => Math.max(a, y[i])),
    "largest",
  );
  const dot = u.reduce((a, b, i) => a + b * v[i], 0);
  const length = (w: number[]) => Math.sqrt(w.reduce((a, b) => a + b * b, 0));
  assertClose(out.cosine.data as Float32Array, [dot / (length(u) * length(v))], "cosine");
  assert.deepEqual(out.sumHW.shape, [2]); // [C, 1, 1] blobs come out as vectors
  assertClose(
    out.sumHW.data as Float32Array,
    [0, 1].map((c) => x.slice(c * 12, c * 12 + 12).reduce((a, b) => a + b)),
    "sumHW",
  );
  assertClose(
    out.argmaxC.data as Float32Array,
    Array.from({ length: 12 }, (_, i) => (x[12 + i] > x[i] ? 1 : 0)),
    "argmaxC",
  );
  assertClose(
    out.l2W.data as Float32Array,
    [0, 1].flatMap((c) =>
      [0, 1, 2].map((yy) => Math.sqrt([0, 1, 2, 3].reduce((a, xx) => a + at(c, yy, xx) ** 2, 0))),
    ),
    "l2W",
  );
});

test("weights of the wrong size and blobs of the wrong shape are refused, naming the layer", () => {
  const conv = (values: number[], channels = 2, stride: bigint[] = []) =>
    network(
      { x: [channels, 4, 4] },
      [
        {
          name: "c1",
          input: ["x"],
          output: ["y"],
          layer: {
            case: "convolution",
            value: {
              outputChannels: 3n,
              kernelChannels: 2n,
              nGroups: 1n,
              kernelSize: [3n, 3n],
              stride,
              weights: weights(values),
              ConvolutionPaddingType: { case: "valid", value: {} },
            },
          },
        },
      ],
      ["y"],
    );
  // A zero stride would give a NaN-sized output.
  assert.throws(
    () => NeuralNetworkInterpreter.fromSpec(conv(ramp(54), 2, [0n, 1n])),
    (error: unknown) =>
      error instanceof FormatError &&
      /layer "c1".*stride \[0, 1\] must be at least 1/.test(error.message),
  );
  assert.throws(
    () => NeuralNetworkInterpreter.fromSpec(conv(ramp(50))),
    (error: unknown) =>
      error instanceof FormatError &&
      /layer "c1".*weights holds 50 values.*needs 54/.test(error.message),
  );
  const interpreter = NeuralNetworkInterpreter.fromSpec(conv(ramp(54)));
  assert.throws(
    () => interpreter.predict({ x: { dtype: "fp32", shape: [30], data: new Float32Array(30) } }),
    (error: unknown) => error instanceof ConfigError && /input "x"/.test(error.message),
  );
  const threeChannels = NeuralNetworkInterpreter.fromSpec(conv(ramp(54), 3));
  assert.throws(
    () =>
      threeChannels.predict({ x: { dtype: "fp32", shape: [3, 4, 4], data: new Float32Array(48) } }),
    (error: unknown) =>
      error instanceof UnsupportedError && /layer "c1": a \[1,1,3,4,4\] blob/.test(error.message),
  );
});

test("array inputs of rank 4 and 2 with a batch of one run as [C, H, W] blobs", () => {
  const layers: LayerInit[] = [
    {
      name: "fc",
      input: ["v"],
      output: ["y"],
      layer: {
        case: "innerProduct",
        value: { inputChannels: 4n, outputChannels: 1n, weights: weights([1, 2, 3, 4]) },
      },
    },
    {
      name: "twice",
      input: ["x"],
      output: ["z"],
      layer: { case: "multiply", value: { alpha: 2 } },
    },
  ];
  const out = run(network({ v: [1, 4], x: [1, 2, 1, 3] }, layers, ["y", "z"]), {
    v: { shape: [1, 4], values: [1, 1, 1, 2] },
    x: { shape: [1, 2, 1, 3], values: [1, 2, 3, 4, 5, 6] },
  });
  assertClose(out.y.data as Float32Array, [14], "y");
  assertClose(out.z.data as Float32Array, [2, 4, 6, 8, 10, 12], "z");
  assert.throws(
    () => NeuralNetworkInterpreter.fromSpec(network({ v: [3, 4] }, [], [])),
    (error: unknown) => error instanceof UnsupportedError && /input "v"/.test(error.message),
  );
});

test("neededAt: a run resumed at a step reads what is live there, not what it computes again", () => {
  const relu = {
    case: "activation" as const,
    value: { NonlinearityType: { case: "ReLU" as const, value: {} } },
  };
  const spec = ndNetwork(
    { x: [4] },
    [
      { name: "r0", input: ["x"], output: ["a"], layer: relu },
      { name: "r1", input: ["a"], output: ["b"], layer: relu },
      { name: "sum", input: ["b", "x"], output: ["y"], layer: { case: "add", value: {} } },
    ],
    ["y"],
  );
  const interpreter = NeuralNetworkInterpreter.fromSpec(spec);
  const live = (step: number) => ["x", "a", "b", "y"].filter(interpreter.neededAt(step));
  assert.deepEqual(live(0), ["x"]);
  assert.deepEqual(live(1), ["x", "a"]);
  assert.deepEqual(live(2), ["x", "b"]);
  // Resumed at step 2 from those blobs alone, the run gives the whole run's output.
  const x = { dtype: "fp32" as const, shape: [4], data: Float32Array.from([1, -2, 3, -4]) };
  const blobs = new Map<string, { shape: number[]; data: Float32Array }>();
  const whole = interpreter.predict(
    { x },
    {
      observe: (name, value) =>
        blobs.set(name, { shape: [...value.shape], data: value.data.slice() }),
    },
  );
  const keep = interpreter.neededAt(2);
  const values = new Map([...blobs].filter(([name]) => keep(name)));
  assert.deepEqual([...values.keys()], ["b"]);
  assert.deepEqual(
    interpreter.predict({ x }, { resume: { step: 2, values } }).y.data,
    whole.y.data,
  );
});
