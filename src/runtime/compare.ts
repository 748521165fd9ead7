/**
 * How far a candidate model's outputs are from a reference model's on the same inputs: per
 * output, signal-to-noise ratio, PSNR, cosine similarity, maximum absolute error and MSE and,
 * for classifier-shaped outputs, how often the top classes agree.
 */
import type { MLModel } from "../format/model.js";
import type { Tensor, TypedArray } from "../kernels/dtype.js";
import { ConfigError } from "../errors.js";
import { snrDb } from "../kernels/snr.js";
import type { LoadOptions, ProgramIO } from "./interpreter.js";
import { loadRunner } from "./runner.js";

export interface OutputComparison {
  name: string;
  /** Elements compared (finite in both models), over all samples. */
  count: number;
  maxAbsError: number;
  mse: number;
  /** 10·log10(Σ ref² / Σ (ref − cand)²); Infinity when identical. */
  snrDb: number;
  /** 10·log10(max|ref|² / mse). */
  psnrDb: number;
  cosine: number;
  /**
   * For outputs whose last axis holds ≥ 5 scores per row (rank ≤ 2): the fraction of rows where
   * both models pick the same top class, and where the reference's top class is among the
   * candidate's five best.
   */
  top1Agreement?: number;
  top5Agreement?: number;
  /**
   * A label output (strings, e.g. a classifier's class label): only top1Agreement, how often
   * the labels are equal, is meaningful.
   */
  labels?: boolean;
  /**
   * Elements that are infinite or NaN (e.g. fp16 overflow), left out of the statistics above;
   * present only when there are some.
   */
  nonFinite?: { reference: number; candidate: number };
}

/** Accumulates the statistics of one output (or any value two runs share) over samples. */
export class OutputStats {
  count = 0;
  maxAbsError = 0;
  peak = 0;
  signal = 0;
  noise = 0;
  dot = 0;
  candidateEnergy = 0;
  rows = 0;
  top1 = 0;
  top5 = 0;
  classifier = true;
  referenceNonFinite = 0;
  candidateNonFinite = 0;
  labels = false;

  constructor(readonly name: string) {}

  add(reference: Tensor, candidate: Tensor): void {
    if (reference.dtype === "string" || candidate.dtype === "string") {
      this.labels = true;
      reference.data.forEach((label, i) => {
        this.rows++;
        if (label === candidate.data[i]) this.top1++;
      });
      return;
    }
    const a = reference.data as TypedArray;
    const b = candidate.data as TypedArray;
    if (a.length !== b.length) {
      throw new ConfigError(
        `output "${this.name}" has shape [${reference.shape.join(",")}] in one model and [${candidate.shape.join(",")}] in the other`,
      );
    }
    for (let i = 0; i < a.length; i++) {
      const x = Number(a[i]);
      const y = Number(b[i]);
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        if (!Number.isFinite(x)) this.referenceNonFinite++;
        if (!Number.isFinite(y)) this.candidateNonFinite++;
        continue;
      }
      const e = x - y;
      this.count++;
      this.maxAbsError = Math.max(this.maxAbsError, Math.abs(e));
      this.peak = Math.max(this.peak, Math.abs(x));
      this.signal += x * x;
      this.noise += e * e;
      this.dot += x * y;
      this.candidateEnergy += y * y;
    }
    const classes = reference.shape[reference.shape.length - 1] ?? 0;
    this.classifier &&= reference.shape.length <= 2 && classes >= 5;
    if (this.classifier) this.countTopClasses(a, b, classes);
  }

  private countTopClasses(a: TypedArray, b: TypedArray, classes: number): void {
    for (let row = 0; row < a.length / classes; row++) {
      const base = row * classes;
      const best = (data: TypedArray) => {
        const order = Array.from({ length: classes }, (_, i) => i);
        return order.sort((i, j) => Number(data[base + j]) - Number(data[base + i]));
      };
      const refBest = best(a)[0];
      const candOrder = best(b);
      this.rows++;
      if (candOrder[0] === refBest) this.top1++;
      if (candOrder.slice(0, 5).includes(refBest)) this.top5++;
    }
  }

  result(): OutputComparison {
    if (this.labels) {
      const none = { maxAbsError: NaN, mse: NaN, snrDb: NaN, psnrDb: NaN, cosine: NaN };
      return {
        name: this.name,
        count: this.rows,
        ...none,
        top1Agreement: this.top1 / this.rows,
        labels: true,
      };
    }
    const mse = this.count ? this.noise / this.count : 0;
    const comparison: OutputComparison = {
      name: this.name,
      count: this.count,
      maxAbsError: this.maxAbsError,
      mse,
      snrDb: snrDb(this.signal, this.noise),
      psnrDb: snrDb(this.peak * this.peak, mse),
      // Undefined (NaN) when exactly one side is all zeros: no direction to compare.
      cosine:
        this.signal === 0 && this.candidateEnergy === 0
          ? 1
          : this.dot / Math.sqrt(this.signal * this.candidateEnergy),
    };
    if (this.referenceNonFinite + this.candidateNonFinite > 0) {
      comparison.nonFinite = {
        reference: this.referenceNonFinite,
        candidate: this.candidateNonFinite,
      };
      // Nothing finite to compare: no statistic is meaningful.
      if (this.count === 0) {
        Object.assign(comparison, {
          maxAbsError: NaN,
          mse: NaN,
          snrDb: NaN,
          psnrDb: NaN,
          cosine: NaN,
        });
      }
    }
    if (this.classifier && this.rows > 0) {
      comparison.top1Agreement = this.top1 / this.rows;
      comparison.top5Agreement = this.top5 / this.rows;
    }
    return comparison;
  }
}

/** Compares output tensors computed elsewhere (one record per sample, same output names). */
export function compareOutputs(
  reference: readonly Record<string, Tensor>[],
  candidate: readonly Record<string, Tensor>[],
): OutputComparison[] {
  const stats = new Map<string, OutputStats>();
  reference.forEach((outputs, sample) => {
    for (const [name, tensor] of Object.entries(outputs)) {
      const other = candidate[sample]?.[name];
      if (!other) throw new ConfigError(`the candidate model has no output "${name}"`);
      let s = stats.get(name);
      if (!s) stats.set(name, (s = new OutputStats(name)));
      s.add(tensor, other);
    }
  });
  return [...stats.values()].map((s) => s.result());
}

export interface CompareOptions extends LoadOptions {
  /**
   * Stateful models: the states' initial values (zero unless given). Each model keeps its own
   * states across the samples, which run in order as the steps of one sequence.
   */
  states?: Readonly<Record<string, Tensor>>;
}

/** Runs both models on every sample and compares their outputs. */
export async function compareModels(
  reference: MLModel,
  candidate: MLModel,
  samples: readonly Record<string, Tensor>[],
  options: CompareOptions = {},
): Promise<OutputComparison[]> {
  const [a, b] = await Promise.all([
    loadRunner(reference, options),
    loadRunner(candidate, options),
  ]);
  requireSameInputs(a.inputs, b.inputs);
  const stateOf = (runner: typeof a) =>
    runner.states?.length ? runner.newState?.(options.states) : undefined;
  const [stateA, stateB] = [stateOf(a), stateOf(b)];
  const refOutputs: Record<string, Tensor>[] = [];
  const candOutputs: Record<string, Tensor>[] = [];
  for (const sample of samples) {
    refOutputs.push(a.predict(sample, { state: stateA }));
    candOutputs.push(b.predict(sample, { state: stateB }));
  }
  return compareOutputs(refOutputs, candOutputs);
}

const describeInputs = (inputs: readonly ProgramIO[]) =>
  inputs
    .map((io) => `${io.name} ${io.dtype}[${io.shape.map((d) => d ?? "?").join(",")}]`)
    .join(", ");

/** Both models must read the same inputs for a comparison to mean anything. */
function requireSameInputs(reference: readonly ProgramIO[], candidate: readonly ProgramIO[]): void {
  const names = (list: readonly ProgramIO[]) =>
    list
      .map((io) => io.name)
      .sort()
      .join("\n");
  if (names(reference) === names(candidate)) return;
  throw new ConfigError(
    `the models take different inputs: the reference takes ${describeInputs(reference) || "none"}; the candidate takes ${describeInputs(candidate) || "none"}`,
  );
}
