/**
 * Recurrent layers over [Seq, Batch, I, 1, 1] blobs: simple recurrent, GRU, LSTM in one or
 * both directions, with their initial states as optional inputs and final states as outputs.
 */
import type {
  ActivationParams,
  LSTMParams,
  LSTMWeightParams,
  NeuralNetworkLayer,
} from "../../format/gen/NeuralNetwork_pb.js";
import type { Dense } from "../../kernels/ops/elementwise.js";
import {
  gru,
  lstm,
  simpleRecurrent,
  type Activation,
  type LstmWeights,
} from "../../kernels/ops/recurrent.js";
import type { LSTM_WEIGHT_FIELDS } from "../../neural/walk.js";
import { scalarActivation } from "./activation.js";
import { num, paramsOf, unsupported, weightValues, type LayerCompiler } from "./params.js";

/** Gate sums are clipped to [−50, 50] before their activation (the specification's clip()). */
const CLIP = 50;

function activations(
  layer: NeuralNetworkLayer,
  params: readonly ActivationParams[],
  defaults: Activation[],
): Activation[] {
  return defaults.map((fallback, k) => {
    const fn = params[k] ? scalarActivation(params[k]) : fallback;
    if (!fn) throw unsupported(layer, `activation ${k} is not a scalar function`);
    return (v: number) => fn(v < -CLIP ? -CLIP : v > CLIP ? CLIP : v);
  });
}

const sigmoid: Activation = (v) => 1 / (1 + Math.exp(-v));

/** Steps, batch and the input vector size of a [Seq, Batch, I, ...] blob. */
function sequenceOf(layer: NeuralNetworkLayer, x: Dense, inputSize: number): [number, number] {
  const steps = x.shape[0];
  const batch = x.data.length / (steps * inputSize);
  if (!Number.isInteger(batch) || x.shape.length < 3) {
    throw unsupported(layer, `a [${x.shape}] blob is not a sequence of ${inputSize}-vectors`);
  }
  return [steps, batch];
}

/** A [steps, batch, size] result in the input's rank: [steps, batch, size, 1, 1] for rank 5. */
function shaped(x: Dense, steps: number, batch: number, size: number, data: Float32Array): Dense {
  const ones = new Array<number>(Math.max(0, x.shape.length - 3)).fill(1);
  return { shape: [steps, batch, size, ...ones], data };
}

/** A state input [1, batch, H, ...], zeros when not given. */
function state(layer: NeuralNetworkLayer, given: Dense | undefined, size: number): Float32Array {
  if (!given) return new Float32Array(size);
  if (given.data.length !== size) {
    throw unsupported(layer, `a state of ${given.data.length} values, expected ${size}`);
  }
  return given.data;
}

type LstmWeightField = (typeof LSTM_WEIGHT_FIELDS)[number];

/** Gate blocks of one LSTM direction in the kernel's order (input, forget, output, cell). */
function lstmWeights(
  layer: NeuralNetworkLayer,
  prefix: string,
  w: LSTMWeightParams | undefined,
  p: LSTMParams | undefined,
  inputSize: number,
  hidden: number,
): LstmWeights {
  if (!w) throw unsupported(layer, `has no ${prefix}weights`);
  const gates = ["inputGate", "forgetGate", "outputGate", "blockInput"] as const;
  /** The blocks of the listed gates' `suffix` fields, one after the other. */
  const stack = (suffix: string, count: number, names: readonly string[] = gates) => {
    const out = new Float32Array(names.length * count);
    names.forEach((gate, k) => {
      const field = `${gate}${suffix}` as LstmWeightField;
      out.set(weightValues(layer, prefix + field, w[field], count), k * count);
    });
    return out;
  };
  let bias: Float32Array | undefined;
  if (p?.hasBiasVectors) bias = stack("BiasVector", hidden);
  if (p?.forgetBias) {
    bias ??= new Float32Array(4 * hidden);
    for (let j = 0; j < hidden; j++) bias[hidden + j] += 1;
  }
  return {
    inputWeights: stack("WeightMatrix", hidden * inputSize),
    recurrentWeights: stack("RecursionMatrix", hidden * hidden),
    bias,
    peephole: p?.hasPeepholeVectors
      ? stack("PeepholeVector", hidden, ["inputGate", "forgetGate", "outputGate"])
      : undefined,
  };
}

function lstmOptions(
  layer: NeuralNetworkLayer,
  params: readonly ActivationParams[],
  p: LSTMParams | undefined,
  reverse: boolean,
) {
  const [gate, cell, output] = activations(layer, params, [sigmoid, Math.tanh, Math.tanh]);
  const clip = p?.cellClipThreshold || CLIP;
  return { reverse, gate, cell, output, clip, coupled: p?.coupledInputAndForgetGate };
}

const uniDirectionalLSTM: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "uniDirectionalLSTM");
  const [inputSize, hidden] = [num(p.inputVectorSize), num(p.outputVectorSize)];
  const weights = lstmWeights(layer, "weightParams.", p.weightParams, p.params, inputSize, hidden);
  const options = lstmOptions(layer, p.activations, p.params, p.reverseInput);
  return ([x, h0, c0]) => {
    const [steps, batch] = sequenceOf(layer, x, inputSize);
    const size = batch * hidden;
    const r = lstm(
      x.data,
      steps,
      batch,
      inputSize,
      hidden,
      state(layer, h0, size),
      state(layer, c0, size),
      weights,
      options,
    );
    const all = p.params?.sequenceOutput;
    return [
      shaped(x, all ? steps : 1, batch, hidden, all ? r.sequence : r.h),
      shaped(x, 1, batch, hidden, r.h),
      shaped(x, 1, batch, hidden, r.c),
    ];
  };
};

/** [rows, H] results of the two directions side by side: [rows, 2H]. */
function sideBySide(forward: Float32Array, backward: Float32Array, hidden: number): Float32Array {
  const rows = forward.length / hidden;
  const out = new Float32Array(2 * forward.length);
  for (let r = 0; r < rows; r++) {
    out.set(forward.subarray(r * hidden, (r + 1) * hidden), 2 * r * hidden);
    out.set(backward.subarray(r * hidden, (r + 1) * hidden), (2 * r + 1) * hidden);
  }
  return out;
}

const biDirectionalLSTM: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "biDirectionalLSTM");
  const [inputSize, hidden] = [num(p.inputVectorSize), num(p.outputVectorSize)];
  const directions = [0, 1].map((d) => ({
    weights: lstmWeights(
      layer,
      `weightParams[${d}].`,
      p.weightParams[d],
      p.params,
      inputSize,
      hidden,
    ),
    options: lstmOptions(
      layer,
      d === 0 ? p.activationsForwardLSTM : p.activationsBackwardLSTM,
      p.params,
      d === 1,
    ),
  }));
  return ([x, h0, c0, h0Back, c0Back]) => {
    const [steps, batch] = sequenceOf(layer, x, inputSize);
    const size = batch * hidden;
    const states = [
      [h0, c0],
      [h0Back, c0Back],
    ];
    const [f, b] = directions.map(({ weights, options }, d) =>
      lstm(
        x.data,
        steps,
        batch,
        inputSize,
        hidden,
        state(layer, states[d][0], size),
        state(layer, states[d][1], size),
        weights,
        options,
      ),
    );
    const all = p.params?.sequenceOutput;
    const y = all ? sideBySide(f.sequence, b.sequence, hidden) : sideBySide(f.h, b.h, hidden);
    return [
      shaped(x, all ? steps : 1, batch, 2 * hidden, y),
      shaped(x, 1, batch, hidden, f.h),
      shaped(x, 1, batch, hidden, f.c),
      shaped(x, 1, batch, hidden, b.h),
      shaped(x, 1, batch, hidden, b.c),
    ];
  };
};

/** The GRU kernel takes its gate blocks in the order reset, output (candidate), update. */
const gruLayer: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "gru");
  const [inputSize, hidden] = [num(p.inputVectorSize), num(p.outputVectorSize)];
  const gates = ["reset", "output", "update"] as const;
  const stack = (suffix: "WeightMatrix" | "RecursionMatrix" | "BiasVector", count: number) => {
    const out = new Float32Array(3 * count);
    gates.forEach((g, k) => {
      const field = `${g}Gate${suffix}` as const;
      out.set(weightValues(layer, field, p[field], count), k * count);
    });
    return out;
  };
  const inputWeights = stack("WeightMatrix", hidden * inputSize);
  const recurrentWeights = stack("RecursionMatrix", hidden * hidden);
  const bias = p.hasBiasVectors ? stack("BiasVector", hidden) : undefined;
  const [gate, output] = activations(layer, p.activations, [sigmoid, Math.tanh]);
  return ([x, h0]) => {
    const [steps, batch] = sequenceOf(layer, x, inputSize);
    const r = gru(
      x.data,
      steps,
      batch,
      inputSize,
      hidden,
      state(layer, h0, batch * hidden),
      inputWeights,
      recurrentWeights,
      bias,
      {
        reverse: p.reverseInput,
        gate,
        output,
      },
    );
    return [
      shaped(x, p.sequenceOutput ? steps : 1, batch, hidden, p.sequenceOutput ? r.sequence : r.h),
      shaped(x, 1, batch, hidden, r.h),
    ];
  };
};

const simpleRecurrentLayer: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "simpleRecurrent");
  const [inputSize, hidden] = [num(p.inputVectorSize), num(p.outputVectorSize)];
  const inputWeights = weightValues(layer, "weightMatrix", p.weightMatrix, hidden * inputSize);
  const recurrentWeights = weightValues(
    layer,
    "recursionMatrix",
    p.recursionMatrix,
    hidden * hidden,
  );
  const bias = p.hasBiasVector
    ? weightValues(layer, "biasVector", p.biasVector, hidden)
    : undefined;
  const [activation] = activations(layer, p.activation ? [p.activation] : [], [Math.tanh]);
  return ([x, h0]) => {
    const [steps, batch] = sequenceOf(layer, x, inputSize);
    const r = simpleRecurrent(
      x.data,
      steps,
      batch,
      inputSize,
      hidden,
      state(layer, h0, batch * hidden),
      inputWeights,
      recurrentWeights,
      bias,
      {
        reverse: p.reverseInput,
        activation,
      },
    );
    return [
      shaped(x, p.sequenceOutput ? steps : 1, batch, hidden, p.sequenceOutput ? r.sequence : r.h),
      shaped(x, 1, batch, hidden, r.h),
    ];
  };
};

export const RECURRENT_LAYERS = {
  simpleRecurrent: simpleRecurrentLayer,
  gru: gruLayer,
  uniDirectionalLSTM,
  biDirectionalLSTM,
} satisfies Record<string, LayerCompiler>;
