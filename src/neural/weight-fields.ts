/**
 * Which weight fields of a layer `quantize_weights` rewrites, and the tensor shape it gives each
 * one (which decides the per-channel grouping of linear quantization). Biases, gates' bias
 * vectors and other rank-1 tensors form a single channel.
 */
import type { NeuralNetworkLayer, WeightParams } from "../format/gen/NeuralNetwork_pb.js";
import type { ChannelLayout } from "../kernels/neural-quantization.js";
import { LSTM_WEIGHT_FIELDS } from "./walk.js";

export interface QuantizableField {
  field: string;
  params: WeightParams;
  layout: ChannelLayout;
  /** A bias that coremltools quantizes only when the selector also accepts it as "bias". */
  selectableBias: boolean;
}

const product = (values: readonly bigint[]): number => values.reduce((a, b) => a * Number(b), 1);

/** The fields quantized for `layer`, in coremltools' order; [] for layers it leaves alone. */
export function quantizableFields(layer: NeuralNetworkLayer): QuantizableField[] {
  const out: QuantizableField[] = [];
  const add = (
    field: string,
    params: WeightParams | undefined,
    shape: number[],
    options: { axis?: 0 | 1; selectableBias?: boolean } = {},
  ) => {
    if (!params) return;
    out.push({
      field,
      params,
      layout: { shape, axis: options.axis ?? 0 },
      selectableBias: options.selectableBias ?? false,
    });
  };
  const kind = layer.layer;
  switch (kind.case) {
    case "convolution": {
      const conv = kind.value;
      const oc = Number(conv.outputChannels);
      const kc = Number(conv.kernelChannels);
      const [kh, kw] = conv.kernelSize.map(Number);
      if (conv.isDeconvolution) {
        const groups = Number(conv.nGroups) || 1;
        add("weights", conv.weights, [kc, Math.trunc(oc / groups), kh, kw], { axis: 1 });
      } else {
        add("weights", conv.weights, [oc, kc, kh, kw]);
      }
      if (conv.hasBias) add("bias", conv.bias, [oc], { selectableBias: true });
      break;
    }
    case "batchnorm": {
      const n = Number(kind.value.channels);
      add("gamma", kind.value.gamma, [n]);
      add("beta", kind.value.beta, [n]);
      add("mean", kind.value.mean, [n]);
      add("variance", kind.value.variance, [n]);
      break;
    }
    case "innerProduct": {
      const ip = kind.value;
      const oc = Number(ip.outputChannels);
      add("weights", ip.weights, [oc, Number(ip.inputChannels)]);
      if (ip.hasBias) add("bias", ip.bias, [oc], { selectableBias: true });
      break;
    }
    case "batchedMatmul": {
      const mm = kind.value;
      const second = Number(mm.weightMatrixSecondDimension);
      add("weights", mm.weights, [second, Number(mm.weightMatrixFirstDimension)]);
      if (mm.hasBias) add("bias", mm.bias, [second], { selectableBias: true });
      break;
    }
    case "embedding": {
      const oc = Number(kind.value.outputChannels);
      add("weights", kind.value.weights, [oc, Number(kind.value.inputDim)]);
      if (kind.value.hasBias) add("bias", kind.value.bias, [oc]);
      break;
    }
    case "embeddingND": {
      const size = Number(kind.value.embeddingSize);
      add("weights", kind.value.weights, [size, Number(kind.value.vocabSize)]);
      if (kind.value.hasBias) add("bias", kind.value.bias, [size]);
      break;
    }
    case "scale":
      add("scale", kind.value.scale, [product(kind.value.shapeScale)]);
      if (kind.value.hasBias) add("bias", kind.value.bias, [product(kind.value.shapeBias)]);
      break;
    case "bias":
      add("bias", kind.value.bias, [product(kind.value.shape)]);
      break;
    case "loadConstant":
    case "loadConstantND":
      add("data", kind.value.data, [product(kind.value.shape)]);
      break;
    case "simpleRecurrent": {
      const rnn = kind.value;
      const [i, o] = [Number(rnn.inputVectorSize), Number(rnn.outputVectorSize)];
      add("weightMatrix", rnn.weightMatrix, [o, i]);
      add("recursionMatrix", rnn.recursionMatrix, [o, o]);
      if (rnn.hasBiasVector) add("biasVector", rnn.biasVector, [o]);
      break;
    }
    case "gru": {
      const gru = kind.value;
      const [i, o] = [Number(gru.inputVectorSize), Number(gru.outputVectorSize)];
      const gates = ["update", "reset", "output"] as const;
      for (const g of gates) add(`${g}GateWeightMatrix`, gru[`${g}GateWeightMatrix`], [o, i]);
      for (const g of gates) add(`${g}GateRecursionMatrix`, gru[`${g}GateRecursionMatrix`], [o, o]);
      if (gru.hasBiasVectors) {
        for (const g of gates) add(`${g}GateBiasVector`, gru[`${g}GateBiasVector`], [o]);
      }
      break;
    }
    case "uniDirectionalLSTM":
    case "biDirectionalLSTM": {
      const lstm = kind.value;
      const [i, o] = [Number(lstm.inputVectorSize), Number(lstm.outputVectorSize)];
      const directions =
        kind.case === "uniDirectionalLSTM"
          ? [{ prefix: "weightParams.", weights: kind.value.weightParams }]
          : kind.value.weightParams.map((weights, d) => ({
              prefix: `weightParams[${d}].`,
              weights,
            }));
      const peepholes = lstm.params?.hasPeepholeVectors ?? false;
      for (const { prefix, weights } of directions) {
        if (!weights) continue;
        for (const name of LSTM_WEIGHT_FIELDS) {
          if (name.endsWith("PeepholeVector") && !peepholes) continue;
          const shape = name.endsWith("WeightMatrix")
            ? [o, i]
            : name.endsWith("RecursionMatrix")
              ? [o, o]
              : [o];
          add(prefix + name, weights[name], shape);
        }
      }
      break;
    }
    default:
      break;
  }
  return out;
}
