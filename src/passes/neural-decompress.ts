/**
 * Turns every float16, quantized or int8 weight of a neural-network model (including networks
 * nested in pipelines, branches and loops) back into float32 `floatValue`s.
 */
import type { DecompressedOp } from "./decompress.js";
import { clone } from "@bufbuild/protobuf";
import { ModelSchema } from "../format/gen/Model_pb.js";
import type { WeightParams } from "../format/gen/NeuralNetwork_pb.js";
import type { MLModel } from "../format/model.js";
import { dequantizeWeightParams, weightStorage } from "../neural/dequantize.js";
import { fieldLayout } from "../neural/weights.js";
import { validateNeuralNetworkWeights } from "../neural/validate.js";
import { layerWeightFields, neuralNetworksIn, walkLayers } from "../neural/walk.js";

/** Whether `model` holds any neural network (itself or nested in pipelines). */
export function hasNeuralNetwork(model: MLModel): boolean {
  return !neuralNetworksIn(model.spec).next().done;
}

export async function decompressNeuralNetwork(
  model: MLModel,
  onDecompressed?: (weight: DecompressedOp) => void,
): Promise<MLModel> {
  validateNeuralNetworkWeights(model);
  const spec = clone(ModelSchema, model.spec);
  for (const { network } of neuralNetworksIn(spec)) {
    for (const { layer } of walkLayers(network)) {
      let changed = false;
      for (const { field, params } of layerWeightFields(layer)) {
        const kind = weightStorage(params).kind;
        if (kind === "float32" || kind === "empty" || kind === "raw") continue;
        const bytesBefore = storedBytes(params);
        const values = dequantizeWeightParams(
          params,
          fieldLayout(layer, field),
          `layer ${layer.name} ${field}`,
        );
        params.floatValue = Array.from(values);
        params.float16Value = new Uint8Array(0);
        params.rawValue = new Uint8Array(0);
        params.int8RawValue = new Uint8Array(0);
        params.quantization = undefined;
        changed = true;
        onDecompressed?.({
          name: `${layer.name}.${field}`,
          type: `${kind} layer weights`,
          shape: [values.length],
          bytesBefore,
          bytesAfter: values.length * 4,
          weight: true,
        });
      }
      // Int8 weights drive int8 × int8 products; float weights take the float path.
      const kind = layer.layer;
      if (changed && (kind.case === "innerProduct" || kind.case === "batchedMatmul")) {
        kind.value.int8DynamicQuantize = false;
      }
    }
  }
  return model.derive(spec, new Map(model.weightFiles));
}

/** Bytes a weight field holds in whichever form it is stored. */
function storedBytes(params: WeightParams): number {
  return (
    params.floatValue.length * 4 +
    params.float16Value.length +
    params.rawValue.length +
    params.int8RawValue.length
  );
}
