/** Small neural-network specs built in code for tests and fixtures. */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ArrayFeatureType_ArrayDataType } from "../../src/format/gen/FeatureTypes_pb.js";
import { ModelSchema, type Model } from "../../src/format/gen/Model_pb.js";
import {
  NeuralNetworkImageShapeMapping,
  NeuralNetworkLayerSchema,
  NeuralNetworkMultiArrayShapeMapping,
  WeightParamsSchema,
  type NeuralNetworkLayer,
  type WeightParams,
} from "../../src/format/gen/NeuralNetwork_pb.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { NeuralNetworkInterpreter } from "../../src/runtime/neural-network.js";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { encodeModel, type MLModel } from "../../src/format/model.js";
import { writeNpy } from "../../src/format/npy.js";
import { decompressNeuralNetwork } from "../../src/passes/neural-decompress.js";
import { neuralNetworkOf } from "../../src/neural/walk.js";

export function floatWeights(values: number[]): WeightParams {
  return create(WeightParamsSchema, { floatValue: values.map(Math.fround) });
}

/** Deterministic pseudo-random values in (-1, 1). */
export function noise(count: number, seed = 1): number[] {
  let state = seed;
  return Array.from({ length: count }, () => {
    state = (state * 16807) % 2147483647;
    return Math.fround((state / 2147483647) * 2 - 1);
  });
}

export function layer(init: MessageInitShape<typeof NeuralNetworkLayerSchema>): NeuralNetworkLayer {
  return create(NeuralNetworkLayerSchema, init);
}

export function innerProduct(
  name: string,
  input: string,
  output: string,
  inputs: number,
  outputs: number,
  seed = 1,
) {
  return layer({
    name,
    input: [input],
    output: [output],
    layer: {
      case: "innerProduct",
      value: {
        inputChannels: BigInt(inputs),
        outputChannels: BigInt(outputs),
        hasBias: true,
        weights: floatWeights(noise(inputs * outputs, seed)),
        bias: floatWeights(noise(outputs, seed + 1)),
      },
    },
  });
}

export function neuralNetworkModel(layers: NeuralNetworkLayer[], specificationVersion = 1): Model {
  return create(ModelSchema, {
    specificationVersion,
    Type: { case: "neuralNetwork", value: { layers } },
  });
}

// ---- A small builder of iOS 13+ networks (EXACT_ARRAY_MAPPING) -------------------------------

export type LayerInit = MessageInitShape<typeof NeuralNetworkLayerSchema>;
type LayerCase = NonNullable<LayerInit["layer"]>;
type LayerType = NonNullable<LayerCase["case"]>;
type ParamsInit<T extends LayerType> = Extract<LayerCase, { case: T }>["value"];

/** A layer of `type` reading `input` and writing `output` (names may be one string). */
export function nd<T extends LayerType>(
  type: T,
  input: string | string[],
  output: string | string[],
  params: ParamsInit<T> = {} as ParamsInit<T>,
  name = Array.isArray(output) ? (output[0] ?? type) : output,
): LayerInit {
  const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
  return {
    name,
    input: list(input),
    output: list(output),
    layer: { case: type, value: params } as LayerCase,
  };
}

export function arrayFeature(name: string, shape: number[]) {
  return {
    name,
    type: {
      Type: {
        case: "multiArrayType" as const,
        value: { shape: shape.map(BigInt), dataType: ArrayFeatureType_ArrayDataType.FLOAT32 },
      },
    },
  };
}

export interface NetworkOptions {
  /** Default 5 (iOS 14). */
  specificationVersion?: number;
  /** Declared output shapes (default: none declared). */
  outputShapes?: Record<string, number[]>;
}

/** A neural network with EXACT_ARRAY_MAPPING array inputs of the given shapes. */
export function ndNetwork(
  inputs: Record<string, number[]>,
  layers: LayerInit[],
  outputs: string[],
  options: NetworkOptions = {},
): Model {
  return create(ModelSchema, {
    specificationVersion: options.specificationVersion ?? 5,
    description: {
      input: Object.entries(inputs).map(([name, shape]) => arrayFeature(name, shape)),
      output: outputs.map((name) => arrayFeature(name, options.outputShapes?.[name] ?? [])),
    },
    Type: {
      case: "neuralNetwork",
      value: {
        layers,
        arrayInputShapeMapping: NeuralNetworkMultiArrayShapeMapping.EXACT_ARRAY_MAPPING,
        imageInputShapeMapping: NeuralNetworkImageShapeMapping.RANK4_IMAGE_MAPPING,
      },
    },
  });
}

/** A nested network (branch or loop body) of the given layers. */
export function nested(layers: LayerInit[]) {
  return {
    layers,
    arrayInputShapeMapping: NeuralNetworkMultiArrayShapeMapping.EXACT_ARRAY_MAPPING,
  };
}

/** Runs a spec on float32 inputs given as shapes and values. */
export function runNetwork(
  spec: Model,
  inputs: Record<string, { shape: number[]; values: ArrayLike<number> }>,
): Record<string, Tensor> {
  const interpreter = NeuralNetworkInterpreter.fromSpec(spec);
  const tensors = Object.fromEntries(
    Object.entries(inputs).map(([name, { shape, values }]) => [
      name,
      { dtype: "fp32" as const, shape, data: Float32Array.from(values) },
    ]),
  );
  return interpreter.predict(tensors);
}

export const CONV_WEIGHTS = noise(8 * 3 * 9, 7).map((v, i) => v * (1 + (i % 9) * 0.5));
export const FC_WEIGHTS = noise(10 * 8, 9).map((v, i) => v * (1 + (i % 8)));

/** x [3, 6, 6] → 3×3 conv ("same", 8 channels) → ReLU → innerProduct over channels at each position. */
export function convReluFcNetwork(): Model {
  return ndNetwork(
    { x: [3, 6, 6] },
    [
      {
        name: "conv",
        input: ["x"],
        output: ["c"],
        layer: {
          case: "convolution",
          value: {
            outputChannels: 8n,
            kernelChannels: 3n,
            kernelSize: [3n, 3n],
            weights: floatWeights(CONV_WEIGHTS),
            hasBias: true,
            bias: floatWeights(noise(8, 3).map((v) => v * 0.5)),
            ConvolutionPaddingType: { case: "same", value: {} },
          },
        },
      },
      {
        name: "relu",
        input: ["c"],
        output: ["r"],
        layer: { case: "activation", value: { NonlinearityType: { case: "ReLU", value: {} } } },
      },
      {
        name: "transpose",
        input: ["r"],
        output: ["t"],
        layer: { case: "transpose", value: { axes: [1n, 2n, 0n] } },
      },
      {
        name: "fc",
        input: ["t"],
        output: ["y"],
        layer: {
          case: "innerProduct",
          value: { inputChannels: 8n, outputChannels: 10n, weights: floatWeights(FC_WEIGHTS) },
        },
      },
    ],
    ["y"],
  );
}

/** Input channels of unequal, correlated energy, so the candidates differ. */
export function correlatedImageSamples(count: number): Record<string, Tensor>[] {
  return Array.from({ length: count }, (_, s) => {
    const base = noise(36, 20 + s);
    const data = Float32Array.from(noise(108, 40 + s), (v, i) => {
      const channel = Math.floor(i / 36);
      return [4, 1, 0.3][channel] * (0.7 * base[i % 36] + 0.3 * v);
    });
    return { x: { dtype: "fp32", shape: [3, 6, 6], data } };
  });
}

/** The float32 weights of layer `name` after decompression. */
export async function decompressedWeights(model: MLModel, name: string): Promise<Float32Array> {
  const dense = await decompressNeuralNetwork(model);
  const layer = neuralNetworkOf(dense.spec)!.layers.find((l) => l.name === name)!;
  return Float32Array.from(
    (layer.layer.value as { weights: { floatValue: number[] } }).weights.floatValue,
  );
}

/** Writes the conv–ReLU–fc network and a batch of 2 of its samples (x.npy) into `dir`. */
export async function writeConvReluFcFiles(
  dir: string,
): Promise<{ input: string; data: string; batch: Record<string, Tensor>[] }> {
  const input = join(dir, "in.mlmodel");
  await writeFile(input, encodeModel(convReluFcNetwork()));
  const batch = correlatedImageSamples(2);
  const data = join(dir, "x.npy");
  const values = Float32Array.from(batch.flatMap((s) => [...(s.x.data as Float32Array)]));
  await writeFile(data, writeNpy({ dtype: "fp32", shape: [2, 3, 6, 6], data: values }));
  return { input, data, batch };
}
