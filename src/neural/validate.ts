/**
 * Checks the neural networks of a model before anything runs on them: every blob a layer reads
 * is a model input or made by a layer before it (in its network or an enclosing one), every
 * layer has a name and outputs, and its weights can be read: quantized ones with parameters that
 * can be read, raw bytes only in a custom layer. The interface's feature sizes are checked too
 * (format/description.ts). After it, the interpreter may trust layer wiring.
 */
import type { NeuralNetworkLayer } from "../format/gen/NeuralNetwork_pb.js";
import type { MLModel } from "../format/ml-model.js";
import { checkFeatureDescriptions } from "../format/description.js";
import { FormatError } from "../errors.js";
import { checkQuantizedParams, weightStorage } from "./dequantize.js";
import { layerWeightFields, nestedNetworks, neuralNetworksIn, walkLayers } from "./walk.js";

const validated = new WeakSet<object>();

/** A layer's name and kind, as messages name it. */
function layerLabel(where: string, layer: NeuralNetworkLayer): string {
  return `${where}: layer "${layer.name}"${layer.layer.case ? ` (${layer.layer.case})` : ""}`;
}

/**
 * Checks that each weight of `layer` can be read: passes keep the weights they do not compress
 * as they are, and one no layer can read would reach their output.
 */
function checkWeights(layer: NeuralNetworkLayer, label: string): void {
  for (const { field, params } of layerWeightFields(layer)) {
    if (layer.layer.case !== "custom" && weightStorage(params).kind === "raw") {
      throw new FormatError(
        `${label} ${field}`,
        "holds raw bytes without quantization parameters (only a custom layer's may)",
      );
    }
    checkQuantizedParams(params, `${label} ${field}`);
  }
}

/** Checks `layers` in order, with `scope` the blobs defined so far; adds what they define. */
function checkLayers(layers: readonly NeuralNetworkLayer[], scope: Set<string>, where: string) {
  for (const layer of layers) {
    const label = layerLabel(where, layer);
    if (layer.layer.case === undefined) throw new FormatError(label, "has no layer parameters");
    checkWeights(layer, label);
    for (const input of layer.input) {
      if (!scope.has(input)) {
        const name = input === "" ? "an empty name" : `"${input}"`;
        throw new FormatError(label, `reads ${name}, which no input or earlier layer makes`);
      }
    }
    // Control flow: nested networks see what is defined so far, and what they define is seen
    // after them (the blobs a branch or loop body writes).
    for (const nested of nestedNetworks(layer)) checkLayers(nested.layers, scope, label);
    for (const output of layer.output) {
      if (output === "") throw new FormatError(label, "has an output without a name");
      scope.add(output);
    }
  }
}

/** The neural networks of `model`, each with where messages say it is. */
function* networksWithPlace(model: MLModel) {
  const where = model.sourcePath ?? "model";
  for (const found of neuralNetworksIn(model.spec)) {
    const path = found.modelPath;
    yield { ...found, at: path.length > 0 ? `${where}: ${path.join("/")}` : where };
  }
}

/** Validates the interface and every neural network of `model` once. */
export function validateNeuralNetworks(model: MLModel): void {
  if (validated.has(model.spec)) return;
  checkFeatureDescriptions(model.spec, model.sourcePath ?? "model");
  for (const { model: nested, network, at } of networksWithPlace(model)) {
    // Pipeline stages also read the outputs of earlier stages, which are their own inputs here.
    const scope = new Set((nested.description?.input ?? []).map((f) => f.name));
    checkLayers(network.layers, scope, at);
  }
  validated.add(model.spec);
}

/** Checks only that every weight of every neural network in `model` can be read (see checkWeights). */
export function validateNeuralNetworkWeights(model: MLModel): void {
  if (validated.has(model.spec)) return;
  for (const { network, at } of networksWithPlace(model)) {
    for (const { layer } of walkLayers(network)) checkWeights(layer, layerLabel(at, layer));
  }
}
