/**
 * What a compression does to a model's task, not only to its tensors: perplexity of a language
 * model on token windows, and for any model with class scores (logits or probabilities) how
 * often the compressed model picks the reference's class and how far its distribution moves.
 */
import { ConfigError } from "../errors.js";
import { ELEMENT_TYPES, type Tensor, type TypedArray } from "../kernels/dtype.js";
import { OutputStats } from "../runtime/compare.js";
import type { ModelRunner } from "../runtime/runner.js";

export interface Perplexity {
  perplexity: number;
  /** Mean cross-entropy, nats per token. */
  crossEntropy: number;
  tokens: number;
  /** Mean cross-entropy of each sample. */
  perSample: number[];
}

/** The integer input holding token ids and the output holding next-token scores. */
export function languageModelIO(runner: ModelRunner): { ids: string; logits: string } {
  const ids = runner.inputs.filter((i) => ELEMENT_TYPES[i.dtype].kind !== "float");
  const logits = runner.outputs.filter((o) => ELEMENT_TYPES[o.dtype].kind === "float");
  if (ids.length !== 1 || logits.length !== 1) {
    throw new ConfigError(
      "perplexity needs a model with one integer input (token ids) and one float output (logits)",
    );
  }
  return { ids: ids[0].name, logits: logits[0].name };
}

/**
 * Cross-entropy of next-token prediction: for each position t but the last, −log softmax(
 * logits[t])[ids[t + 1]] (in float64), averaged over positions and samples.
 */
export function perplexity(
  runner: ModelRunner,
  samples: readonly Record<string, Tensor>[],
): Perplexity {
  const io = languageModelIO(runner);
  const perSample: number[] = [];
  let total = 0;
  let tokens = 0;
  for (const sample of samples) {
    const ids = sample[io.ids].data as TypedArray;
    const logits = runner.predict(sample)[io.logits];
    const vocabulary = logits.shape[logits.shape.length - 1];
    const scores = logits.data as Float32Array;
    if (scores.length !== ids.length * vocabulary) {
      throw new ConfigError(
        `output ${io.logits} [${logits.shape.join(",")}] is not one row of scores per token of ${io.ids}`,
      );
    }
    let loss = 0;
    for (let t = 0; t + 1 < ids.length; t++) {
      const row = scores.subarray(t * vocabulary, (t + 1) * vocabulary);
      loss += logSumExp(row) - row[Number(ids[t + 1])];
    }
    perSample.push(loss / (ids.length - 1));
    total += loss;
    tokens += ids.length - 1;
  }
  const crossEntropy = total / tokens;
  return { perplexity: Math.exp(crossEntropy), crossEntropy, tokens, perSample };
}

function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** A row of class scores as log-probabilities: probabilities as they are, logits softmaxed. */
function logProbabilities(row: Float32Array, probabilities: boolean): Float64Array {
  if (probabilities) return Float64Array.from(row, (p) => Math.log(Math.max(p, 1e-30)));
  const norm = logSumExp(row);
  return Float64Array.from(row, (v) => v - norm);
}

/** Whether every row is already a probability distribution (non-negative, summing to 1). */
function areProbabilities(data: Float32Array, classes: number): boolean {
  for (let start = 0; start < data.length; start += classes) {
    let sum = 0;
    for (let i = start; i < start + classes; i++) {
      if (data[i] < 0) return false;
      sum += data[i];
    }
    if (Math.abs(sum - 1) > 1e-3) return false;
  }
  return true;
}

/** Agreement of two models' class distributions, row by row (last axis = classes). */
export interface Agreement {
  rows: number;
  /** Rows where both pick the same class. */
  top1: number;
  /** Rows where the reference's class is among the candidate's five best. */
  top5: number;
  /** Mean KL(reference ‖ candidate), nats. */
  meanKl: number;
  /** SNR (dB) of the candidate's scores against the reference's. */
  snrDb: number;
}

/** Accumulates the agreement of one output over samples. */
export class AgreementStats {
  private rows = 0;
  private top1 = 0;
  private top5 = 0;
  private kl = 0;
  private readonly snr = new OutputStats("scores");

  add(reference: Float32Array, candidate: Float32Array, classes: number): void {
    const flat = (data: Float32Array): Tensor => ({ dtype: "fp32", shape: [data.length], data });
    this.snr.add(flat(reference), flat(candidate));
    const probabilities = areProbabilities(reference, classes);
    for (let start = 0; start < reference.length; start += classes) {
      const p = logProbabilities(reference.subarray(start, start + classes), probabilities);
      const q = logProbabilities(candidate.subarray(start, start + classes), probabilities);
      let best = 0;
      let kl = 0;
      for (let i = 0; i < classes; i++) {
        if (p[i] > p[best]) best = i;
        if (p[i] > -69) kl += Math.exp(p[i]) * (p[i] - q[i]);
      }
      // The reference's class's rank among the candidate's scores.
      let above = 0;
      for (let i = 0; i < classes; i++) if (q[i] > q[best]) above++;
      this.rows++;
      if (above === 0) this.top1++;
      if (above < 5) this.top5++;
      this.kl += Math.max(kl, 0);
    }
  }

  result(): Agreement {
    const rows = Math.max(this.rows, 1);
    return {
      rows: this.rows,
      top1: this.top1 / rows,
      top5: this.top5 / rows,
      meanKl: this.kl / rows,
      snrDb: this.snr.result().snrDb,
    };
  }
}

/** The float output holding class scores: the only one, or the one with the most classes. */
export function scoresOutput(runner: ModelRunner): string {
  const floats = runner.outputs.filter((o) => ELEMENT_TYPES[o.dtype].kind === "float");
  if (floats.length === 0) throw new ConfigError("the model has no float output to compare");
  const classes = (o: (typeof floats)[number]) => o.shape[o.shape.length - 1] ?? 0;
  return floats.reduce((a, b) => (classes(b) > classes(a) ? b : a)).name;
}

/** Runs both models on every sample and measures how well their class choices agree. */
export function agreement(
  reference: ModelRunner,
  candidate: ModelRunner,
  samples: readonly Record<string, Tensor>[],
  output = scoresOutput(reference),
): Agreement {
  const stats = new AgreementStats();
  for (const sample of samples) {
    const a = reference.predict(sample)[output];
    const b = candidate.predict(sample)[output];
    if (!b) throw new ConfigError(`the candidate model has no output "${output}"`);
    stats.add(a.data as Float32Array, b.data as Float32Array, a.shape[a.shape.length - 1]);
  }
  return stats.result();
}
