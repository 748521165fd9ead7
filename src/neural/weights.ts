/** A listing of every weight tensor in the neural networks of a model. */
import type { Model } from "../format/gen/Model_pb.js";
import type { NeuralNetworkLayer } from "../format/gen/NeuralNetwork_pb.js";
import type { ChannelLayout } from "../kernels/neural-quantization.js";
import {
  storedByteSize,
  weightElementCount,
  weightStorage,
  type WeightStorage,
} from "./dequantize.js";
import { quantizableFields } from "./weight-fields.js";
import { layerWeightFields, neuralNetworksIn, walkLayers } from "./walk.js";

export interface NeuralWeightInfo {
  /** Pipeline member names from the root down ([] for the root model). */
  modelPath: string[];
  layer: string;
  /** Names of the branch/loop layers enclosing the layer, outermost first. */
  enclosingLayers: string[];
  layerType: string;
  field: string;
  elementCount: number;
  /** The shape the layer gives the weight (e.g. [out, in, kh, kw]), else [elementCount]. */
  shape: number[];
  storage: WeightStorage;
  /** Bytes of the stored values, quantization tables included. */
  byteSize: number;
}

/** The shape `quantize_weights` gives a field of `layer`, when it quantizes that field. */
export function fieldLayout(layer: NeuralNetworkLayer, field: string): ChannelLayout | undefined {
  return quantizableFields(layer).find((f) => f.field === field)?.layout;
}

/** A weight's name in reports and selectors: pipeline members, enclosing layers, layer, field. */
export function neuralWeightName(
  w: Pick<NeuralWeightInfo, "modelPath" | "enclosingLayers" | "layer" | "field">,
): string {
  return [...w.modelPath, ...w.enclosingLayers, w.layer, w.field].join("/");
}

export function neuralNetworkWeights(spec: Model): NeuralWeightInfo[] {
  const out: NeuralWeightInfo[] = [];
  for (const { modelPath, network } of neuralNetworksIn(spec)) {
    for (const { layer, enclosing } of walkLayers(network)) {
      for (const { field, params } of layerWeightFields(layer)) {
        const storage = weightStorage(params);
        if (storage.kind === "empty") continue;
        const layout = fieldLayout(layer, field);
        const elementCount = weightElementCount(params, layout);
        const shape =
          layout?.shape.reduce((a, b) => a * b, 1) === elementCount
            ? [...layout.shape]
            : [elementCount];
        out.push({
          modelPath,
          layer: layer.name,
          enclosingLayers: enclosing,
          layerType: layer.layer.case ?? "unknown",
          field,
          elementCount,
          shape,
          storage,
          byteSize: storedByteSize(params),
        });
      }
    }
  }
  return out;
}
