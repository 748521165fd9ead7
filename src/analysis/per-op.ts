/**
 * Where two models' computations part ways: both run on the same samples, and every value the
 * two compute under the same name (op outputs, layer blobs) is compared, in the reference's
 * program order. The first value whose SNR falls below a threshold, and the ops that lose the
 * most SNR between their inputs and their output, point at the op to look at.
 */
import type { MLModel } from "../format/model.js";
import type { Tensor } from "../kernels/dtype.js";
import { OutputStats } from "../runtime/compare.js";
import type { LoadOptions } from "../runtime/interpreter.js";
import { loadTracedRunner, type TracedValue } from "./trace.js";

export interface ValueComparison {
  /** The value's name, and the op (or layer) that computes it in the reference. */
  name: string;
  op: string;
  opType: string;
  shape: readonly number[];
  snrDb: number;
  psnrDb: number;
  maxAbsError: number;
  /** The lowest SNR among the compared values the op reads (Infinity: none differs). */
  inputSnrDb: number;
  /** SNR the op loses: inputSnrDb − snrDb (Infinity when its inputs agree exactly). */
  lossDb: number;
}

export interface PerOpComparison {
  samples: number;
  /** Values both models compute, in the reference's program order. */
  values: ValueComparison[];
  thresholdDb: number;
  /** The first value whose SNR is below the threshold. */
  firstBelow?: string;
  /** The values whose ops lose the most SNR, worst first (only ops that lose some). */
  worst: string[];
  /** Values only one model computes (e.g. ops a compression added or removed). */
  onlyInReference: number;
  onlyInCandidate: number;
}

export interface PerOpOptions extends LoadOptions {
  /** SNR (dB) below which a value counts as diverged (default 20). */
  thresholdDb?: number;
  /** How many of the worst ops to name (default 5). */
  worst?: number;
}

interface Recorded {
  op: string;
  opType: string;
  reads: readonly string[];
  shape: readonly number[];
  data: Float32Array;
}

const fp32 = (shape: readonly number[], data: Float32Array): Tensor => ({
  dtype: "fp32",
  shape: [...shape],
  data,
});

/** Runs both models on every sample and compares every value they share. */
export async function comparePerOp(
  reference: MLModel,
  candidate: MLModel,
  samples: readonly Record<string, Tensor>[],
  options: PerOpOptions = {},
): Promise<PerOpComparison> {
  const thresholdDb = options.thresholdDb ?? 20;
  const [a, b] = await Promise.all([
    loadTracedRunner(reference, options),
    loadTracedRunner(candidate, options),
  ]);
  // The first sample fixes the order and what each value is.
  const order = new Map<string, Omit<Recorded, "data">>();
  const stats = new Map<string, OutputStats>();
  const candidateOnly = new Set<string>();
  for (const sample of samples) {
    const recorded = new Map<string, Recorded>();
    a.trace(sample, ({ name, op, opType, reads, value }: TracedValue) => {
      // Values computed again (loop bodies) are compared at their first computation.
      if (recorded.has(name)) return;
      const entry = { op, opType, reads, shape: value.shape };
      recorded.set(name, { ...entry, data: Float32Array.from(value.data) });
      if (!order.has(name)) order.set(name, entry);
    });
    const seen = new Set<string>();
    b.trace(sample, ({ name, value }) => {
      if (seen.has(name)) return;
      seen.add(name);
      const ref = recorded.get(name);
      if (!ref || ref.data.length !== value.data.length) {
        candidateOnly.add(name);
        return;
      }
      let s = stats.get(name);
      if (!s) stats.set(name, (s = new OutputStats(name)));
      s.add(fp32(ref.shape, ref.data), fp32(value.shape, value.data));
    });
  }
  const snr = new Map<string, number>();
  const values: ValueComparison[] = [];
  for (const [name, entry] of order) {
    const s = stats.get(name);
    if (!s) continue;
    const result = s.result();
    snr.set(name, result.snrDb);
    const inputSnrDb = Math.min(Infinity, ...entry.reads.flatMap((r) => snr.get(r) ?? []));
    values.push({
      name,
      op: entry.op,
      opType: entry.opType,
      shape: entry.shape,
      snrDb: result.snrDb,
      psnrDb: result.psnrDb,
      maxAbsError: result.maxAbsError,
      inputSnrDb,
      lossDb: inputSnrDb === result.snrDb ? 0 : inputSnrDb - result.snrDb,
    });
  }
  const worst = values
    .filter((v) => v.lossDb > 0)
    .sort((x, y) => y.lossDb - x.lossDb || x.snrDb - y.snrDb)
    .slice(0, options.worst ?? 5)
    .map((v) => v.name);
  return {
    samples: samples.length,
    values,
    thresholdDb,
    firstBelow: values.find((v) => v.snrDb < thresholdDb)?.name,
    worst,
    onlyInReference: order.size - values.length,
    onlyInCandidate: [...candidateOnly].filter((n) => !stats.has(n)).length,
  };
}
