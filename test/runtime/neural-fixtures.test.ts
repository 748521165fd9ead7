/**
 * The converter-shaped neural networks of fixtures/nn/: the files are what the builders make,
 * and their outputs match the computation written out from their weights.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Model } from "../../src/format/gen/Model_pb.js";
import type { NeuralNetworkLayer } from "../../src/format/gen/NeuralNetwork_pb.js";
import { encodeModel } from "../../src/format/ml-model.js";
import { NeuralNetworkInterpreter } from "../../src/runtime/neural-network.js";
import { neuralNetworkOf, walkLayers } from "../../src/neural/walk.js";
import {
  ACTIONS,
  ACTIVITIES,
  LSTM_STEPS,
  NN_FIXTURES,
  createMlActionClassifier,
  tfLstmClassifier,
} from "../support/nn-fixtures.js";
import { noise } from "../support/neural-networks.js";
import { FIXTURES } from "../support/paths.js";

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const softmax = (v: number[]) => {
  const e = v.map((x) => Math.exp(x - Math.max(...v)));
  return e.map((x) => x / e.reduce((a, b) => a + b, 0));
};

/** The parameters of the layer called `name`, nested ones included. */
function layerNamed(spec: Model, name: string): NeuralNetworkLayer {
  for (const { layer } of walkLayers(neuralNetworkOf(spec)!)) if (layer.name === name) return layer;
  throw new Error(`no layer ${name}`);
}

function weightsOf(spec: Model, name: string): { weights: number[]; bias: number[] } {
  const value = layerNamed(spec, name).layer.value as {
    weights?: { floatValue: number[] };
    bias?: { floatValue: number[] };
  };
  return { weights: value.weights!.floatValue, bias: value.bias!.floatValue };
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string) {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= 2e-5,
      `${label}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

test("the fixtures in fixtures/nn are what their builders make (npm run gen:fixtures)", () => {
  for (const [file, build] of Object.entries(NN_FIXTURES)) {
    const saved = readFileSync(join(FIXTURES, "nn", file));
    assert.deepEqual(new Uint8Array(saved), encodeModel(build()), file);
  }
});

test("the TensorFlow-shaped LSTM classifier computes the LSTM of its weights, step by step", () => {
  const spec = tfLstmClassifier();
  const interpreter = NeuralNetworkInterpreter.fromSpec(spec);
  const [T, F, H] = [LSTM_STEPS, 3, 8];
  const cell = weightsOf(spec, "gates");
  const head = weightsOf(spec, "logits");
  /** Expected probabilities: the LSTM over the first `length` steps, then the head. */
  const expected = (x: number[], length: number) => {
    let h = new Array<number>(H).fill(0);
    let c = new Array<number>(H).fill(0);
    let last = h;
    for (let t = 0; t < T; t++) {
      const xh = [...x.slice(t * F, t * F + F), ...h];
      // Weights stored [F + H, 4H] column by column: output j reads j·(F + H) + k.
      const g = Array.from({ length: 4 * H }, (_, j) =>
        xh.reduce((s, v, k) => s + v * cell.weights[j * (F + H) + k], cell.bias[j]),
      );
      // Split order: input, cell input, forget, output.
      const [i, z, f, o] = [0, 1, 2, 3].map((q) => g.slice(q * H, (q + 1) * H));
      c = c.map((v, j) => sigmoid(f[j]) * v + sigmoid(i[j]) * Math.tanh(z[j]));
      h = c.map((v, j) => sigmoid(o[j]) * Math.tanh(v));
      if (t === length - 1) last = h;
    }
    const logits = Array.from({ length: ACTIVITIES.length }, (_, k) =>
      last.reduce((s, v, j) => s + v * head.weights[k * H + j], head.bias[k]),
    );
    return softmax(logits);
  };
  const full = noise(T * F, 5);
  // The last five steps all zero: the classifier reads the output of step 11.
  const short = full.map((v, i) => (i >= 11 * F ? 0 : v));
  for (const [x, length] of [
    [full, T],
    [short, 11],
  ] as const) {
    const out = interpreter.predict({
      x: { dtype: "fp32", shape: [1, T, F], data: Float32Array.from(x) },
    });
    const probabilities = expected([...x], length);
    close(out.activityProbability.data as Float32Array, probabilities, `length ${length}`);
    const best = probabilities.indexOf(Math.max(...probabilities));
    assert.deepEqual(out.activity.data, [ACTIVITIES[best]]);
  }
});

test("the Create ML-shaped action classifier computes its convolution, pooling and head", () => {
  const spec = createMlActionClassifier();
  const [W, J, C, K] = [45, 18, 8, 9];
  const conv = weightsOf(spec, "temporal");
  const jointBias = (
    layerNamed(spec, "joint_bias").layer.value as { data: { floatValue: number[] } }
  ).data.floatValue;
  const head = weightsOf(spec, "logits");
  const poses = noise(W * 3 * J, 8);
  // Channel c of the transposed input at (t, j) is poses[t][c][j].
  const at = (c: number, t: number, j: number) => poses[(t * 3 + c) * J + j];
  const relu = (o: number, t: number, j: number) => {
    let s = conv.bias[o];
    for (let c = 0; c < 3; c++) {
      for (let k = 0; k < K; k++) {
        const tt = t + k - 4; // "same" padding of a 9-tap kernel: 4 before, 4 after
        if (tt >= 0 && tt < W) s += conv.weights[(o * 3 + c) * K + k] * at(c, tt, j);
      }
    }
    return Math.max(0, s);
  };
  const mean = (f: (t: number, j: number) => number) => {
    let s = 0;
    for (let t = 0; t < W; t++) for (let j = 0; j < J; j++) s += f(t, j);
    return s / (W * J);
  };
  const features = [
    ...[0, 1, 2, 3].map((o) => mean((t, j) => relu(o, t, j) + relu(o + 4, t, j) + jointBias[j])),
    ...[0, 1, 2, 3].map((o) => mean((t, j) => relu(o, t, j))),
  ];
  const logits = ACTIONS.map((_, k) =>
    features.reduce((s, v, i) => s + v * head.weights[k * C + i], head.bias[k]),
  );
  const out = NeuralNetworkInterpreter.fromSpec(spec).predict({
    poses: { dtype: "fp32", shape: [W, 3, J], data: Float32Array.from(poses) },
  });
  assert.deepEqual(out.labelProbabilities.shape, [1, ACTIONS.length]);
  close(out.labelProbabilities.data as Float32Array, softmax(logits), "probabilities");
});
