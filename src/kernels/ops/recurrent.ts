/** Recurrent layers over sequences x [seq, batch, input]: LSTM (gate order i, f, o, z) and GRU. */
import { gemm } from "./matmul.js";

export type Activation = (v: number) => number;

export interface LstmWeights {
  /** [4H, I] and [4H, H], gate blocks in the order input, forget, output, cell. */
  inputWeights: Float32Array;
  recurrentWeights: Float32Array;
  /** [4H] (input and recurrent biases summed) */
  bias?: Float32Array;
  /** [3H] for the input, forget and output gates. */
  peephole?: Float32Array;
}

export interface LstmOptions {
  reverse: boolean;
  gate: Activation;
  cell: Activation;
  output: Activation;
  /** Clips the cell state to [-clip, clip]. */
  clip?: number;
  /** The forget gate is 1 − the input gate (no forget weights are read). */
  coupled?: boolean;
}

/** One direction of an LSTM; returns every step's hidden state and the final h and c. */
export function lstm(
  x: Float32Array,
  steps: number,
  batch: number,
  inputSize: number,
  hidden: number,
  h0: Float32Array,
  c0: Float32Array,
  weights: LstmWeights,
  options: LstmOptions,
): { sequence: Float32Array; h: Float32Array; c: Float32Array } {
  const h4 = 4 * hidden;
  // Input projections of all steps at once.
  const projected = new Float32Array(steps * batch * h4);
  gemm(steps * batch, h4, inputSize, x, 0, false, weights.inputWeights, 0, true, projected, 0);
  const h = Float32Array.from(h0);
  const c = Float32Array.from(c0);
  const gates = new Float32Array(batch * h4);
  const sequence = new Float32Array(steps * batch * hidden);
  const p = weights.peephole;
  for (let n = 0; n < steps; n++) {
    const t = options.reverse ? steps - 1 - n : n;
    gates.set(projected.subarray(t * batch * h4, (t + 1) * batch * h4));
    gemm(batch, h4, hidden, h, 0, false, weights.recurrentWeights, 0, true, gates, 0);
    for (let b = 0; b < batch; b++) {
      const g = b * h4;
      for (let j = 0; j < hidden; j++) {
        const bias = (k: number) => (weights.bias ? weights.bias[k * hidden + j] : 0);
        const cPrev = c[b * hidden + j];
        const i = options.gate(gates[g + j] + bias(0) + (p ? p[j] * cPrev : 0));
        const f = options.coupled
          ? 1 - i
          : options.gate(gates[g + hidden + j] + bias(1) + (p ? p[hidden + j] * cPrev : 0));
        const z = options.cell(gates[g + 3 * hidden + j] + bias(3));
        let cNew = f * cPrev + i * z;
        if (options.clip !== undefined)
          cNew = Math.min(options.clip, Math.max(-options.clip, cNew));
        const o = options.gate(
          gates[g + 2 * hidden + j] + bias(2) + (p ? p[2 * hidden + j] * cNew : 0),
        );
        c[b * hidden + j] = cNew;
        h[b * hidden + j] = o * options.output(cNew);
      }
    }
    sequence.set(h, t * batch * hidden);
  }
  return { sequence, h, c };
}

export interface GruOptions {
  reverse: boolean;
  gate: Activation;
  output: Activation;
}

/**
 * One direction of a GRU with weights [3H, I] / [3H, H] and bias [3H] in MIL's order: reset,
 * candidate ("output"), update. The reset gate scales h before the candidate's recurrent product.
 */
export function gru(
  x: Float32Array,
  steps: number,
  batch: number,
  inputSize: number,
  hidden: number,
  h0: Float32Array,
  inputWeights: Float32Array,
  recurrentWeights: Float32Array,
  bias: Float32Array | undefined,
  options: GruOptions,
): { sequence: Float32Array; h: Float32Array } {
  const h3 = 3 * hidden;
  const projected = new Float32Array(steps * batch * h3);
  gemm(steps * batch, h3, inputSize, x, 0, false, inputWeights, 0, true, projected, 0);
  const h = Float32Array.from(h0);
  const recurrent = new Float32Array(batch * h3);
  const resetH = new Float32Array(batch * hidden);
  const candidate = new Float32Array(batch * hidden);
  const update = new Float32Array(batch * hidden);
  const sequence = new Float32Array(steps * batch * hidden);
  const b = (k: number, j: number) => (bias ? bias[k * hidden + j] : 0);
  for (let n = 0; n < steps; n++) {
    const t = options.reverse ? steps - 1 - n : n;
    recurrent.fill(0);
    gemm(batch, h3, hidden, h, 0, false, recurrentWeights, 0, true, recurrent, 0);
    for (let bi = 0; bi < batch; bi++) {
      const xg = (t * batch + bi) * h3;
      for (let j = 0; j < hidden; j++) {
        const r = options.gate(projected[xg + j] + recurrent[bi * h3 + j] + b(0, j));
        update[bi * hidden + j] = options.gate(
          projected[xg + 2 * hidden + j] + recurrent[bi * h3 + 2 * hidden + j] + b(2, j),
        );
        resetH[bi * hidden + j] = r * h[bi * hidden + j];
      }
    }
    candidate.fill(0);
    gemm(
      batch,
      hidden,
      hidden,
      resetH,
      0,
      false,
      recurrentWeights,
      hidden * hidden,
      true,
      candidate,
      0,
    );
    for (let bi = 0; bi < batch; bi++) {
      const xg = (t * batch + bi) * h3;
      for (let j = 0; j < hidden; j++) {
        const k = bi * hidden + j;
        const o = options.output(projected[xg + hidden + j] + candidate[k] + b(1, j));
        h[k] = (1 - update[k]) * o + update[k] * h[k];
      }
    }
    sequence.set(h, t * batch * hidden);
  }
  return { sequence, h };
}

/**
 * One direction of a simple recurrent layer, h_t = f(W·x_t + R·h_{t−1} + b), with W [H, I] and
 * R [H, H].
 */
export function simpleRecurrent(
  x: Float32Array,
  steps: number,
  batch: number,
  inputSize: number,
  hidden: number,
  h0: Float32Array,
  inputWeights: Float32Array,
  recurrentWeights: Float32Array,
  bias: Float32Array | undefined,
  options: { reverse: boolean; activation: Activation },
): { sequence: Float32Array; h: Float32Array } {
  const projected = new Float32Array(steps * batch * hidden);
  gemm(steps * batch, hidden, inputSize, x, 0, false, inputWeights, 0, true, projected, 0);
  const h = Float32Array.from(h0);
  const sums = new Float32Array(batch * hidden);
  const sequence = new Float32Array(steps * batch * hidden);
  for (let n = 0; n < steps; n++) {
    const t = options.reverse ? steps - 1 - n : n;
    sums.set(projected.subarray(t * batch * hidden, (t + 1) * batch * hidden));
    gemm(batch, hidden, hidden, h, 0, false, recurrentWeights, 0, true, sums, 0);
    for (let k = 0; k < sums.length; k++) {
      h[k] = options.activation(sums[k] + (bias ? bias[k % hidden] : 0));
    }
    sequence.set(h, t * batch * hidden);
  }
  return { sequence, h };
}
