/**
 * Reaching the layers and weight tensors of neural-network models: networks at the root or
 * nested in pipelines, layers nested in branch and loop layers, and every WeightParams a layer
 * holds (named by its field path, e.g. `weights`, `weightParams[1].inputGateBiasVector`).
 */
import type { Model } from "../format/gen/Model_pb.js";
import type {
  ActivationParams,
  LSTMWeightParams,
  NeuralNetwork,
  NeuralNetworkClassifier,
  NeuralNetworkLayer,
  NeuralNetworkRegressor,
  WeightParams,
} from "../format/gen/NeuralNetwork_pb.js";
import { modelTree } from "../format/model-tree.js";

export type NeuralNetworkBody = NeuralNetwork | NeuralNetworkClassifier | NeuralNetworkRegressor;

export interface NetworkInModel {
  /** The (possibly nested) model holding the network. */
  model: Model;
  /** Pipeline member names from the root down ([] for the root model). */
  modelPath: string[];
  network: NeuralNetworkBody;
}

/** The neural network of `model` itself, if it is one. */
export function neuralNetworkOf(model: Model): NeuralNetworkBody | undefined {
  switch (model.Type.case) {
    case "neuralNetwork":
    case "neuralNetworkClassifier":
    case "neuralNetworkRegressor":
      return model.Type.value;
    default:
      return undefined;
  }
}

/** Every neural network in `spec` and the pipelines nested in it, depth first. */
export function* neuralNetworksIn(spec: Model): Generator<NetworkInModel> {
  for (const { model, path } of modelTree(spec)) {
    const network = neuralNetworkOf(model);
    if (network) yield { model, modelPath: path, network };
  }
}

export interface LayerInNetwork {
  layer: NeuralNetworkLayer;
  /** Names of the branch/loop layers enclosing this one, outermost first. */
  enclosing: string[];
}

/** The networks nested in a control-flow layer. */
export function nestedNetworks(layer: NeuralNetworkLayer): NeuralNetwork[] {
  const kind = layer.layer;
  const networks =
    kind.case === "branch"
      ? [kind.value.ifBranch, kind.value.elseBranch]
      : kind.case === "loop"
        ? [kind.value.conditionNetwork, kind.value.bodyNetwork]
        : [];
  return networks.filter((n): n is NeuralNetwork => n !== undefined);
}

/** Every layer of `network`, each followed by the layers nested in it. */
export function* walkLayers(
  network: { layers: NeuralNetworkLayer[] },
  enclosing: string[] = [],
): Generator<LayerInNetwork> {
  for (const layer of network.layers) {
    yield { layer, enclosing };
    for (const nested of nestedNetworks(layer)) {
      yield* walkLayers(nested, [...enclosing, layer.name]);
    }
  }
}

export interface WeightField {
  /** Field path inside the layer parameters. */
  field: string;
  params: WeightParams;
}

/** Every WeightParams held directly by `layer` (not by networks nested in it). */
export function layerWeightFields(layer: NeuralNetworkLayer): WeightField[] {
  const out: WeightField[] = [];
  const add = (field: string, params: WeightParams | undefined) => {
    if (params) out.push({ field, params });
  };
  const kind = layer.layer;
  switch (kind.case) {
    case "convolution":
    case "convolution3d":
    case "innerProduct":
    case "embedding":
    case "embeddingND":
    case "batchedMatmul":
      add("weights", kind.value.weights);
      add("bias", kind.value.bias);
      break;
    case "batchnorm":
      add("gamma", kind.value.gamma);
      add("beta", kind.value.beta);
      add("mean", kind.value.mean);
      add("variance", kind.value.variance);
      break;
    case "layerNormalization":
      add("gamma", kind.value.gamma);
      add("beta", kind.value.beta);
      break;
    case "scale":
      add("scale", kind.value.scale);
      add("bias", kind.value.bias);
      break;
    case "bias":
      add("bias", kind.value.bias);
      break;
    case "loadConstant":
    case "loadConstantND":
      add("data", kind.value.data);
      break;
    case "activation":
      addActivation(out, "", kind.value);
      break;
    case "simpleRecurrent":
      if (kind.value.activation) addActivation(out, "activation.", kind.value.activation);
      add("weightMatrix", kind.value.weightMatrix);
      add("recursionMatrix", kind.value.recursionMatrix);
      add("biasVector", kind.value.biasVector);
      break;
    case "gru":
      kind.value.activations.forEach((a, i) => addActivation(out, `activations[${i}].`, a));
      for (const gate of ["update", "reset", "output"] as const) {
        add(`${gate}GateWeightMatrix`, kind.value[`${gate}GateWeightMatrix`]);
      }
      for (const gate of ["update", "reset", "output"] as const) {
        add(`${gate}GateRecursionMatrix`, kind.value[`${gate}GateRecursionMatrix`]);
      }
      for (const gate of ["update", "reset", "output"] as const) {
        add(`${gate}GateBiasVector`, kind.value[`${gate}GateBiasVector`]);
      }
      break;
    case "uniDirectionalLSTM":
      kind.value.activations.forEach((a, i) => addActivation(out, `activations[${i}].`, a));
      if (kind.value.weightParams) addLstm(out, "weightParams.", kind.value.weightParams);
      break;
    case "biDirectionalLSTM":
      kind.value.activationsForwardLSTM.forEach((a, i) =>
        addActivation(out, `activationsForwardLSTM[${i}].`, a),
      );
      kind.value.activationsBackwardLSTM.forEach((a, i) =>
        addActivation(out, `activationsBackwardLSTM[${i}].`, a),
      );
      kind.value.weightParams.forEach((w, i) => addLstm(out, `weightParams[${i}].`, w));
      break;
    case "custom":
      kind.value.weights.forEach((w, i) => add(`weights[${i}]`, w));
      break;
    default:
      break;
  }
  return out;
}

/** LSTM weight fields in field-number order. */
export const LSTM_WEIGHT_FIELDS = [
  "inputGateWeightMatrix",
  "forgetGateWeightMatrix",
  "blockInputWeightMatrix",
  "outputGateWeightMatrix",
  "inputGateRecursionMatrix",
  "forgetGateRecursionMatrix",
  "blockInputRecursionMatrix",
  "outputGateRecursionMatrix",
  "inputGateBiasVector",
  "forgetGateBiasVector",
  "blockInputBiasVector",
  "outputGateBiasVector",
  "inputGatePeepholeVector",
  "forgetGatePeepholeVector",
  "outputGatePeepholeVector",
] as const;

function addLstm(out: WeightField[], prefix: string, weights: LSTMWeightParams): void {
  for (const name of LSTM_WEIGHT_FIELDS) {
    const params = weights[name];
    if (params) out.push({ field: prefix + name, params });
  }
}

function addActivation(out: WeightField[], prefix: string, activation: ActivationParams): void {
  const kind = activation.NonlinearityType;
  if (kind.case === "PReLU" && kind.value.alpha) {
    out.push({ field: `${prefix}PReLU.alpha`, params: kind.value.alpha });
  } else if (kind.case === "parametricSoftplus") {
    if (kind.value.alpha)
      out.push({ field: `${prefix}parametricSoftplus.alpha`, params: kind.value.alpha });
    if (kind.value.beta)
      out.push({ field: `${prefix}parametricSoftplus.beta`, params: kind.value.beta });
  }
}
