/**
 * The sensitivity table's shapes, and the trial loop that fills it: for each sample the model
 * runs once as it is, then once per weight × candidate with that weight alone compressed, and
 * the output's change is accumulated. How a trial swaps its weight in (an ML program constant,
 * a neural-network layer) is the caller's; measuring and tabulating is shared.
 */
import type { OpConfig } from "../config/optimization-config.js";
import type { Tensor } from "../kernels/dtype.js";
import type { ProgressCallback } from "../progress.js";
import { OutputStats } from "../runtime/compare.js";
import type { ModelRunner } from "../runtime/runner.js";
import { AgreementStats, scoresOutput } from "./task-metrics.js";

/** A config to try on every weight, with a short label for tables. */
export interface Candidate {
  label: string;
  config: OpConfig;
}

export interface SensitivityWeight {
  /** The const op's (or layer's) name: what `op_name_configs` keys. */
  name: string;
  /** The value its consumers read. */
  value: string;
  shape: readonly number[];
  elements: number;
  /** Bytes stored now. */
  bytes: number;
}

/** One weight compressed with one candidate, the rest of the model as it is. */
export interface Trial {
  weight: string;
  candidate: string;
  /** Bytes the compressed weight takes (indices, tables, scales), and per element. */
  bytes: number;
  bitsPerWeight: number;
  /** SNR of the weight itself (dB). */
  weightSnrDb?: number;
  /** Of the measured output, against the uncompressed model. */
  snrDb: number;
  psnrDb: number;
  /** Class-score outputs: top-1 agreement and mean KL of the class distribution. */
  top1?: number;
  meanKl?: number;
}

export interface SensitivityTable {
  /** The output measured: the float output with the most classes (last axis). */
  output: string;
  /** Whether the output is class scores (top-1 and KL measured). */
  scores: boolean;
  samples: number;
  weights: SensitivityWeight[];
  candidates: Candidate[];
  /** Weight by weight (program order), candidate by candidate; absent when a config skips it. */
  trials: Trial[];
  /** Candidates that left a weight alone, with the compressor's reason. */
  skipped: { weight: string; candidate: string; reason: string }[];
}

/** A weight's compressed form under one candidate. */
export interface Variant {
  candidate: Candidate;
  bytes: number;
  weightSnrDb?: number;
}

/** One sample's reference output, and how to rerun that sample with one weight swapped. */
export interface SampleRun<V extends Variant> {
  expected: Tensor;
  trial(weight: SensitivityWeight, variant: V): Tensor;
}

export interface TrialPlan<V extends Variant> {
  /** The reference model, whose most-classes float output is measured. */
  reference: ModelRunner;
  /** Runs the reference on a sample (recording what trials resume from). */
  run(sample: Record<string, Tensor>, output: string): SampleRun<V>;
  /** In the order trials run (program order, so each resumes as late as it can). */
  weights: readonly SensitivityWeight[];
  variants: ReadonlyMap<string, readonly V[]>;
  candidates: readonly Candidate[];
  skipped: SensitivityTable["skipped"];
}

/** Classes at least this many (or an open last axis) make an output class scores, as in compare. */
const MINIMUM_CLASSES = 5;

/** Runs every weight × candidate of `plan` on `samples` and tabulates the outputs' changes. */
export function runTrials<V extends Variant>(
  plan: TrialPlan<V>,
  samples: readonly Record<string, Tensor>[],
  onProgress?: ProgressCallback,
): SensitivityTable {
  const output = scoresOutput(plan.reference);
  const outputShape = plan.reference.outputs.find((o) => o.name === output)!.shape;
  const scores = (outputShape[outputShape.length - 1] ?? MINIMUM_CLASSES) >= MINIMUM_CLASSES;

  const stats = new Map<V, { snr: OutputStats; agreement: AgreementStats }>();
  const total = samples.length * [...plan.variants.values()].reduce((n, v) => n + v.length, 0);
  let done = 0;
  for (const sample of samples) {
    const run = plan.run(sample, output);
    const { expected } = run;
    for (const weight of plan.weights) {
      for (const variant of plan.variants.get(weight.name) ?? []) {
        onProgress?.({ done: done++, total, name: `${weight.name} ${variant.candidate.label}` });
        const got = run.trial(weight, variant);
        let s = stats.get(variant);
        if (!s)
          stats.set(
            variant,
            (s = { snr: new OutputStats(output), agreement: new AgreementStats() }),
          );
        s.snr.add(expected, got);
        if (scores) {
          const classes = expected.shape[expected.shape.length - 1];
          s.agreement.add(expected.data as Float32Array, got.data as Float32Array, classes);
        }
      }
    }
  }
  onProgress?.({ done: total, total, name: "" });

  const trials: Trial[] = [];
  for (const weight of plan.weights) {
    for (const variant of plan.variants.get(weight.name) ?? []) {
      const s = stats.get(variant);
      const snr = s?.snr.result();
      const agreement = s && scores ? s.agreement.result() : undefined;
      trials.push({
        weight: weight.name,
        candidate: variant.candidate.label,
        bytes: variant.bytes,
        bitsPerWeight: (variant.bytes * 8) / weight.elements,
        ...(variant.weightSnrDb !== undefined && { weightSnrDb: variant.weightSnrDb }),
        snrDb: snr?.snrDb ?? NaN,
        psnrDb: snr?.psnrDb ?? NaN,
        ...(agreement && { top1: agreement.top1, meanKl: agreement.meanKl }),
      });
    }
  }
  return {
    output,
    scores,
    samples: samples.length,
    weights: [...plan.weights],
    candidates: [...plan.candidates],
    trials,
    skipped: plan.skipped,
  };
}
