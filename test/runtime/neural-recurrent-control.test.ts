/**
 * Recurrent layers against a step-by-step hand computation of the specification's equations,
 * and control flow (branch, loop, break, continue, copy) over nested networks.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { UnsupportedError } from "../../src/errors.js";
import { NeuralNetworkInterpreter } from "../../src/runtime/neural-network.js";
import {
  floatWeights,
  nd,
  ndNetwork,
  nested,
  noise,
  runNetwork,
  type LayerInit,
} from "../support/neural-networks.js";

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string) {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= 1e-5,
      `${label}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

/** M·v for M stored [rows, v.length] row by row. */
const times = (m: number[], v: number[]) =>
  Array.from({ length: m.length / v.length }, (_, r) =>
    v.reduce((s, x, k) => s + m[r * v.length + k] * x, 0),
  );
const plus = (...vs: number[][]) => vs[0].map((_, j) => vs.reduce((s, v) => s + v[j], 0));

const [I, H, T] = [3, 2, 4];
const xs = Array.from({ length: T }, (_, t) => noise(I, 40 + t));
const input = { shape: [T, 1, I, 1, 1], values: xs.flat() };

interface Gates {
  W: Record<string, number[]>;
  R: Record<string, number[]>;
  b: Record<string, number[]>;
}

function gates(names: string[], seed: number): Gates {
  const pick = (count: number, offset: number) =>
    Object.fromEntries(names.map((g, k) => [g, noise(count, seed + offset + k)]));
  return { W: pick(H * I, 0), R: pick(H * H, 10), b: pick(H, 20) };
}

/** The specification's LSTM, step by step (forget bias, peepholes and cell clip included). */
function handLstm(
  g: Gates,
  peep: Record<string, number[]>,
  h0: number[],
  c0: number[],
  order: number[],
) {
  let [h, c] = [h0, c0];
  const outputs: number[][] = new Array(T);
  for (const t of order) {
    const pre = (k: string) => plus(times(g.W[k], xs[t]), times(g.R[k], h), g.b[k]);
    const i = plus(
      pre("inputGate"),
      c.map((v, j) => peep.inputGate[j] * v),
    ).map(sigmoid);
    const f = plus(
      pre("forgetGate"),
      c.map((v, j) => peep.forgetGate[j] * v),
      [1, 1],
    ).map(sigmoid);
    const z = pre("blockInput").map(Math.tanh);
    c = c.map((v, j) => Math.min(10, Math.max(-10, f[j] * v + i[j] * z[j])));
    const o = plus(
      pre("outputGate"),
      c.map((v, j) => peep.outputGate[j] * v),
    ).map(sigmoid);
    h = c.map((v, j) => o[j] * Math.tanh(v));
    outputs[t] = h;
  }
  return { outputs, h, c };
}

const LSTM_GATES = ["inputGate", "forgetGate", "blockInput", "outputGate"];

function lstmWeightParams(g: Gates, peep: Record<string, number[]>) {
  const w = (values: number[]) => floatWeights(values);
  return {
    inputGateWeightMatrix: w(g.W.inputGate),
    forgetGateWeightMatrix: w(g.W.forgetGate),
    blockInputWeightMatrix: w(g.W.blockInput),
    outputGateWeightMatrix: w(g.W.outputGate),
    inputGateRecursionMatrix: w(g.R.inputGate),
    forgetGateRecursionMatrix: w(g.R.forgetGate),
    blockInputRecursionMatrix: w(g.R.blockInput),
    outputGateRecursionMatrix: w(g.R.outputGate),
    inputGateBiasVector: w(g.b.inputGate),
    forgetGateBiasVector: w(g.b.forgetGate),
    blockInputBiasVector: w(g.b.blockInput),
    outputGateBiasVector: w(g.b.outputGate),
    inputGatePeepholeVector: w(peep.inputGate),
    forgetGatePeepholeVector: w(peep.forgetGate),
    outputGatePeepholeVector: w(peep.outputGate),
  };
}

const LSTM_PARAMS = {
  sequenceOutput: true,
  hasBiasVectors: true,
  forgetBias: true,
  hasPeepholeVectors: true,
  cellClipThreshold: 10,
};

test("a unidirectional LSTM with initial states, peepholes and forget bias matches the equations", () => {
  const g = gates(LSTM_GATES, 1);
  const peep = { inputGate: noise(H, 70), forgetGate: noise(H, 71), outputGate: noise(H, 72) };
  const [h0, c0] = [noise(H, 80), noise(H, 81)];
  const spec = ndNetwork(
    { x: input.shape, h0: [1, 1, H, 1, 1], c0: [1, 1, H, 1, 1] },
    [
      nd("uniDirectionalLSTM", ["x", "h0", "c0"], ["y", "h", "c"], {
        inputVectorSize: BigInt(I),
        outputVectorSize: BigInt(H),
        params: LSTM_PARAMS,
        weightParams: lstmWeightParams(g, peep),
      }),
    ],
    ["y", "h", "c"],
  );
  const out = runNetwork(spec, {
    x: input,
    h0: { shape: [1, 1, H, 1, 1], values: h0 },
    c0: { shape: [1, 1, H, 1, 1], values: c0 },
  });
  const hand = handLstm(g, peep, h0, c0, [0, 1, 2, 3]);
  assert.deepEqual(out.y.shape, [T, 1, H, 1, 1]);
  close(out.y.data as Float32Array, hand.outputs.flat(), "y");
  close(out.h.data as Float32Array, hand.h, "h");
  close(out.c.data as Float32Array, hand.c, "c");
});

test("a bidirectional LSTM joins the forward and the backward direction step by step", () => {
  const forward = gates(LSTM_GATES, 100);
  const backward = gates(LSTM_GATES, 200);
  const zero = { inputGate: [0, 0], forgetGate: [0, 0], outputGate: [0, 0] };
  const params = { ...LSTM_PARAMS, hasPeepholeVectors: false };
  const spec = ndNetwork(
    { x: input.shape },
    [
      nd("biDirectionalLSTM", "x", ["y", "hf", "cf", "hb", "cb"], {
        inputVectorSize: BigInt(I),
        outputVectorSize: BigInt(H),
        params,
        weightParams: [lstmWeightParams(forward, zero), lstmWeightParams(backward, zero)],
      }),
    ],
    ["y", "hb"],
  );
  const out = runNetwork(spec, { x: input });
  const f = handLstm(forward, zero, [0, 0], [0, 0], [0, 1, 2, 3]);
  const b = handLstm(backward, zero, [0, 0], [0, 0], [3, 2, 1, 0]);
  assert.deepEqual(out.y.shape, [T, 1, 2 * H, 1, 1]);
  close(
    out.y.data as Float32Array,
    f.outputs.flatMap((v, t) => [...v, ...b.outputs[t]]),
    "y",
  );
  close(out.hb.data as Float32Array, b.h, "final backward state (after the first step)");
});

test("a GRU and a simple recurrent layer match their equations; reverseInput runs backwards", () => {
  const g = gates(["update", "reset", "output"], 300);
  const w = floatWeights;
  const spec = ndNetwork(
    { x: input.shape, h0: [1, 1, H, 1, 1] },
    [
      nd("gru", ["x", "h0"], ["y", "h"], {
        inputVectorSize: BigInt(I),
        outputVectorSize: BigInt(H),
        sequenceOutput: false,
        hasBiasVectors: true,
        updateGateWeightMatrix: w(g.W.update),
        resetGateWeightMatrix: w(g.W.reset),
        outputGateWeightMatrix: w(g.W.output),
        updateGateRecursionMatrix: w(g.R.update),
        resetGateRecursionMatrix: w(g.R.reset),
        outputGateRecursionMatrix: w(g.R.output),
        updateGateBiasVector: w(g.b.update),
        resetGateBiasVector: w(g.b.reset),
        outputGateBiasVector: w(g.b.output),
      }),
      nd("simpleRecurrent", "x", ["s", "sh"], {
        inputVectorSize: BigInt(I),
        outputVectorSize: BigInt(H),
        activation: { NonlinearityType: { case: "tanh", value: {} } },
        sequenceOutput: true,
        hasBiasVector: true,
        weightMatrix: w(g.W.update),
        recursionMatrix: w(g.R.update),
        biasVector: w(g.b.update),
        reverseInput: true,
      }),
    ],
    ["y", "s"],
  );
  const h0 = noise(H, 90);
  const out = runNetwork(spec, { x: input, h0: { shape: [1, 1, H, 1, 1], values: h0 } });
  let h = h0;
  for (const x of xs) {
    const z = plus(times(g.W.update, x), times(g.R.update, h), g.b.update).map(sigmoid);
    const r = plus(times(g.W.reset, x), times(g.R.reset, h), g.b.reset).map(sigmoid);
    const o = plus(
      times(g.W.output, x),
      times(
        g.R.output,
        h.map((v, j) => v * r[j]),
      ),
      g.b.output,
    ).map(Math.tanh);
    h = h.map((v, j) => (1 - z[j]) * o[j] + z[j] * v);
  }
  assert.deepEqual(out.y.shape, [1, 1, H, 1, 1]);
  close(out.y.data as Float32Array, h, "gru");
  let s = [0, 0];
  const steps: number[][] = new Array(T);
  for (let t = T - 1; t >= 0; t--) {
    s = plus(times(g.W.update, xs[t]), times(g.R.update, s), g.b.update).map(Math.tanh);
    steps[t] = s;
  }
  close(out.s.data as Float32Array, steps.flat(), "simpleRecurrent");
});

const scalar = (v: number) => ({ shape: [1], values: [v] });
const constant = (name: string, v: number) =>
  nd("loadConstantND", [], name, { shape: [1n], data: floatWeights([v]) });

test("a branch runs one of its nested networks, which write blobs of the network around it", () => {
  const spec = ndNetwork(
    { x: [2], flag: [1] },
    [
      nd("branch", "flag", [], {
        ifBranch: nested([nd("multiply", "x", "y", { alpha: 2 })]),
        elseBranch: nested([nd("add", "x", "y", { alpha: 1 })]),
      }),
      nd("add", ["y", "x"], "z"),
    ],
    ["z"],
  );
  const x = { shape: [2], values: [1, -3] };
  close(runNetwork(spec, { x, flag: scalar(1) }).z.data as Float32Array, [3, -9], "if");
  close(
    runNetwork(spec, { x, flag: scalar(1e-7) }).z.data as Float32Array,
    [3, -5],
    "else (|flag| ≤ 1e-6)",
  );
});

test("a while loop re-runs its condition network; copies carry its variables across iterations", () => {
  const layers: LayerInit[] = [
    constant("i", 0),
    nd("copy", "x", "acc"),
    nd("loop", [], [], {
      conditionVar: "more",
      conditionNetwork: nested([nd("lessThan", "i", "more", { alpha: 3 })]),
      bodyNetwork: nested([
        // Reads x, a blob of the outer network, on every iteration.
        nd("addBroadcastable", ["acc", "x"], "next"),
        nd("copy", "next", "acc", {}, "acc_update"),
        nd("add", "i", "i_next", { alpha: 1 }),
        nd("copy", "i_next", "i", {}, "i_update"),
      ]),
    }),
    nd("multiply", "acc", "out", { alpha: 1 }),
  ];
  const out = runNetwork(ndNetwork({ x: [3] }, layers, ["out", "i"]), {
    x: { shape: [3], values: [1, 2, -1] },
  });
  close(out.out.data as Float32Array, [4, 8, -4], "acc after three iterations");
  close(out.i.data as Float32Array, [3], "counter");
});

test("for loops count from maxLoopIterations or an input; break and continue end iterations early", () => {
  const body = (extra: LayerInit[]) =>
    nested([
      nd("add", "i", "i_next", { alpha: 1 }),
      nd("copy", "i_next", "i", {}, "i_update"),
      nd("greaterEqual", "i", "late", { alpha: 2 }),
      ...extra,
      nd("add", "acc", "acc_next", { alpha: 10 }),
      nd("copy", "acc_next", "acc", {}, "acc_update"),
    ]);
  const run = (
    loop: LayerInit,
    inputs: Record<string, { shape: number[]; values: number[] }> = {},
  ) =>
    runNetwork(
      ndNetwork(
        Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.shape])),
        [constant("i", 0), constant("acc", 0), loop, nd("add", ["i", "acc"], "out")],
        ["out", "i", "acc"],
      ),
      inputs,
    );
  // coremltools' builder writes an empty condition network (and no conditionVar) for a for loop.
  const plain = run(
    nd("loop", [], [], {
      maxLoopIterations: 4n,
      conditionNetwork: nested([]),
      bodyNetwork: body([]),
    }),
  );
  close(plain.i.data as Float32Array, [4], "four iterations");
  close(plain.acc.data as Float32Array, [40], "four additions");
  const counted = run(nd("loop", "n", [], { maxLoopIterations: 99n, bodyNetwork: body([]) }), {
    n: scalar(2),
  });
  close(counted.i.data as Float32Array, [2], "the input's count");
  const breaking = run(
    nd("loop", [], [], {
      maxLoopIterations: 4n,
      bodyNetwork: body([
        nd("branch", "late", [], { ifBranch: nested([nd("loopBreak", [], [], {}, "stop")]) }),
      ]),
    }),
  );
  close(breaking.i.data as Float32Array, [2], "break at i = 2");
  close(breaking.acc.data as Float32Array, [10], "the rest of the breaking iteration is skipped");
  const continuing = run(
    nd("loop", [], [], {
      maxLoopIterations: 4n,
      bodyNetwork: body([
        nd("branch", "late", [], { ifBranch: nested([nd("loopContinue", [], [], {}, "skip")]) }),
      ]),
    }),
  );
  close(continuing.i.data as Float32Array, [4], "every iteration starts");
  close(continuing.acc.data as Float32Array, [10], "only the first reaches the end");
});

test("layers the interpreter cannot run are found inside nested networks too", () => {
  const spec = ndNetwork(
    { flag: [1] },
    [nd("branch", "flag", [], { ifBranch: nested([nd("custom", "flag", "y", {}, "deep")]) })],
    [],
  );
  assert.throws(
    () => NeuralNetworkInterpreter.fromSpec(spec),
    (error: unknown) =>
      error instanceof UnsupportedError && /custom \(first: "deep"\)/.test(error.message),
  );
});
