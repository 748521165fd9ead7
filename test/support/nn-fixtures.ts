/**
 * Two neural networks shaped like models people convert, saved in fixtures/nn/ by
 * `npm run gen:fixtures` (and checked against these builders by a test):
 * - an LSTM activity classifier as TensorFlow's converter writes it: the time loop as a
 *   `loop` layer with a condition network, the cell from ND layers, the states carried by
 *   `copy`, the sequence length from the data and a `branch` choosing the last output;
 * - an action classifier shaped like Create ML's (specification 4, poses [45, 3, 18]):
 *   a temporal convolution over joints, ND reshapes, splits and concatenations.
 * Both are classifiers with a label and a probability per class.
 */
import { create } from "@bufbuild/protobuf";
import { ModelSchema, type Model } from "../../src/format/gen/Model_pb.js";
import {
  NeuralNetworkImageShapeMapping,
  NeuralNetworkMultiArrayShapeMapping,
} from "../../src/format/gen/NeuralNetwork_pb.js";
import {
  arrayFeature,
  floatWeights,
  nd,
  nested,
  noise,
  type LayerInit,
} from "./neural-networks.js";

const constant = (name: string, shape: number[], values: number[]) =>
  nd("loadConstantND", [], name, { shape: shape.map(BigInt), data: floatWeights(values) });
const sigmoid = { NonlinearityType: { case: "sigmoid" as const, value: {} } };
const tanh = { NonlinearityType: { case: "tanh" as const, value: {} } };

/** A classifier over `layers` whose probabilities are the blob `probabilities`. */
function classifier(
  specificationVersion: number,
  input: { name: string; shape: number[] },
  layers: LayerInit[],
  probabilities: string,
  labels: string[],
  names: { label: string; probabilities: string },
): Model {
  return create(ModelSchema, {
    specificationVersion,
    description: {
      input: [arrayFeature(input.name, input.shape)],
      output: [
        {
          name: names.probabilities,
          type: {
            Type: {
              case: "dictionaryType",
              value: { KeyType: { case: "stringKeyType", value: {} } },
            },
          },
        },
        { name: names.label, type: { Type: { case: "stringType", value: {} } } },
      ],
      predictedFeatureName: names.label,
      predictedProbabilitiesName: names.probabilities,
    },
    Type: {
      case: "neuralNetworkClassifier",
      value: {
        layers,
        arrayInputShapeMapping: NeuralNetworkMultiArrayShapeMapping.EXACT_ARRAY_MAPPING,
        imageInputShapeMapping: NeuralNetworkImageShapeMapping.RANK4_IMAGE_MAPPING,
        ClassLabels: { case: "stringClassLabels", value: { vector: labels } },
        labelProbabilityLayerName: probabilities,
      },
    },
  });
}

export const LSTM_STEPS = 16;
const FEATURES = 3;
const HIDDEN = 8;
export const ACTIVITIES = ["walking", "running", "sitting", "standing"];

/** The accelerometer LSTM classifier: x [1, 16, 3] → one of four activities. */
export function tfLstmClassifier(): Model {
  const [T, F, H, K] = [LSTM_STEPS, FEATURES, HIDDEN, ACTIVITIES.length];
  const cell: LayerInit[] = [
    nd("gather", ["xt", "i"], "x_i", { axis: 0n }),
    nd("reshapeStatic", "x_i", "x_row", { targetShape: [1n, BigInt(F)] }),
    nd("concatND", ["x_row", "h"], "xh", { axis: -1n }),
    nd("batchedMatmul", "xh", "gates", {
      weightMatrixFirstDimension: BigInt(F + H),
      weightMatrixSecondDimension: BigInt(4 * H),
      weights: floatWeights(noise((F + H) * 4 * H, 11).map((v) => v * 0.6)),
      hasBias: true,
      bias: floatWeights(noise(4 * H, 12).map((v) => v * 0.1)),
    }),
    nd("splitND", "gates", ["g_i", "g_z", "g_f", "g_o"], { axis: -1n, numSplits: 4n }),
    nd("activation", "g_i", "i_t", sigmoid),
    nd("activation", "g_f", "f_t", sigmoid),
    nd("activation", "g_o", "o_t", sigmoid),
    nd("activation", "g_z", "z_t", tanh),
    nd("multiplyBroadcastable", ["f_t", "c"], "fc"),
    nd("multiplyBroadcastable", ["i_t", "z_t"], "iz"),
    nd("addBroadcastable", ["fc", "iz"], "c_next"),
    nd("activation", "c_next", "c_act", tanh),
    nd("multiplyBroadcastable", ["o_t", "c_act"], "h_next"),
    nd("expandDims", "h_next", "h_row", { axes: [0n] }),
    nd("scatter", ["outputs", "i", "h_row"], "outputs_next", { axis: 0n }),
    nd("copy", "c_next", "c", {}, "c_update"),
    nd("copy", "h_next", "h", {}, "h_update"),
    nd("copy", "outputs_next", "outputs", {}, "outputs_update"),
    nd("add", "i", "i_next", { alpha: 1 }),
    nd("copy", "i_next", "i", {}, "i_update"),
  ];
  const layers: LayerInit[] = [
    nd("getShape", "x", "x_shape"),
    nd("sliceStatic", "x_shape", "steps", {
      beginIds: [1n],
      endIds: [2n],
      strides: [1n],
      beginMasks: [false],
      endMasks: [false],
      squeezeMasks: [false],
    }),
    nd("transpose", "x", "xt", { axes: [1n, 0n, 2n] }),
    // The sequence length: steps whose features are not all zero.
    nd("reduceMax", "x", "x_max", { axes: [-1n] }),
    nd("notEqual", "x_max", "x_used", { alpha: 0 }),
    nd("reduceSum", "x_used", "length", { axes: [1n] }),
    constant("i", [1], [0]),
    nd("fillStatic", [], "h", { targetShape: [1n, BigInt(H)] }),
    nd("fillStatic", [], "c", { targetShape: [1n, BigInt(H)] }),
    constant("row_shape", [2], [1, H]),
    nd("concatND", ["steps", "row_shape"], "outputs_shape", { axis: 0n }),
    nd("fillDynamic", "outputs_shape", "outputs"),
    nd("loop", [], [], {
      conditionVar: "more",
      conditionNetwork: nested([nd("lessThan", ["i", "steps"], "more")]),
      bodyNetwork: nested(cell),
    }),
    // The last output within the sequence length: the final state when the whole sequence
    // counts, else the output at length − 1.
    nd("greaterEqual", ["length", "steps"], "complete"),
    nd("branch", "complete", [], {
      ifBranch: nested([nd("copy", "h", "last", {}, "last_is_final")]),
      elseBranch: nested([
        nd("add", "length", "last_index", { alpha: -1 }),
        nd("gather", ["outputs", "last_index"], "last_row", { axis: 0n }),
        nd("squeeze", "last_row", "last", { axes: [0n] }),
      ]),
    }),
    nd("innerProduct", "last", "logits", {
      inputChannels: BigInt(H),
      outputChannels: BigInt(K),
      hasBias: true,
      weights: floatWeights(noise(H * K, 13)),
      bias: floatWeights(noise(K, 14).map((v) => v * 0.1)),
    }),
    nd("softmaxND", "logits", "probabilities", { axis: -1n }),
  ];
  return classifier(5, { name: "x", shape: [1, T, F] }, layers, "probabilities", ACTIVITIES, {
    label: "activity",
    probabilities: "activityProbability",
  });
}

const WINDOW = 45;
const JOINTS = 18;
const FILTERS = 8;
export const ACTIONS = ["jumping_jacks", "squats", "lunges", "push_ups", "other"];

/** The action classifier: poses [45, 3, 18] (x, y, confidence of 18 joints) → one of 5 actions. */
export function createMlActionClassifier(): Model {
  const K = ACTIONS.length;
  const layers: LayerInit[] = [
    nd("transpose", "poses", "channels_first", { axes: [1n, 0n, 2n] }),
    nd("expandDims", "channels_first", "batched", { axes: [0n] }),
    nd("convolution", "batched", "temporal", {
      outputChannels: BigInt(FILTERS),
      kernelChannels: 3n,
      nGroups: 1n,
      kernelSize: [9n, 1n],
      stride: [1n, 1n],
      dilationFactor: [1n, 1n],
      ConvolutionPaddingType: { case: "same", value: {} },
      hasBias: true,
      weights: floatWeights(noise(FILTERS * 3 * 9, 21).map((v) => v * 0.3)),
      bias: floatWeights(noise(FILTERS, 22).map((v) => v * 0.1)),
    }),
    nd("activation", "temporal", "temporal_relu", {
      NonlinearityType: { case: "ReLU", value: {} },
    }),
    nd("splitND", "temporal_relu", ["left", "right"], { axis: 1n, numSplits: 2n }),
    nd("addBroadcastable", ["left", "right"], "joined"),
    constant(
      "joint_bias",
      [1, 1, 1, JOINTS],
      noise(JOINTS, 23).map((v) => v * 0.2),
    ),
    nd("addBroadcastable", ["joined", "joint_bias"], "biased"),
    nd("concatND", ["biased", "left"], "features", { axis: 1n }),
    nd("pooling", "features", "pooled", { type: 1, globalPooling: true }),
    nd("getShape", "pooled", "pooled_shape"),
    constant("batch_axis", [1], [0]),
    nd("gather", ["pooled_shape", "batch_axis"], "batch", { axis: 0n }),
    constant("rest", [1], [-1]),
    nd("concatND", ["batch", "rest"], "flat_shape", { axis: 0n }),
    nd("reshapeDynamic", ["pooled", "flat_shape"], "flat"),
    nd("innerProduct", "flat", "logits", {
      inputChannels: BigInt(FILTERS),
      outputChannels: BigInt(K),
      hasBias: true,
      weights: floatWeights(noise(FILTERS * K, 24)),
      bias: floatWeights(noise(K, 25).map((v) => v * 0.1)),
    }),
    nd("reshapeStatic", "logits", "logits_3d", { targetShape: [1n, 1n, BigInt(K)] }),
    nd("squeeze", "logits_3d", "logits_2d", { axes: [0n] }),
    nd("softmaxND", "logits_2d", "probabilities", { axis: -1n }),
  ];
  return classifier(
    4,
    { name: "poses", shape: [WINDOW, 3, JOINTS] },
    layers,
    "probabilities",
    ACTIONS,
    {
      label: "label",
      probabilities: "labelProbabilities",
    },
  );
}

/** The fixture files and their builders. */
export const NN_FIXTURES: Record<string, () => Model> = {
  "tf_lstm_classifier.mlmodel": tfLstmClassifier,
  "createml_action_classifier.mlmodel": createMlActionClassifier,
};
