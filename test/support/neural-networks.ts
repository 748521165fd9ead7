/** Small neural-network specs built in code for tests. */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ModelSchema, type Model } from "../../src/format/gen/Model_pb.js";
import {
  NeuralNetworkLayerSchema,
  WeightParamsSchema,
  type NeuralNetworkLayer,
  type WeightParams,
} from "../../src/format/gen/NeuralNetwork_pb.js";

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
