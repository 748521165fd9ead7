/**
 * How much each weight matters: for every compressible weight and candidate config, that weight
 * alone is compressed (by the same compressors `compress` uses) and the change in the model's
 * outputs measured on calibration samples. Each candidate compresses the whole model once, and
 * its weights, materialized, are swapped in one at a time; each trial resumes the program at
 * the first op that reads the weight, from the reference run's values, so only the ops after
 * it run again. Neural networks are measured layer by layer (neural-sensitivity.ts).
 */
import { linearQuantizerConfig } from "../config/linear-quantizer.js";
import type { OpConfig } from "../config/optimization-config.js";
import { palettizerConfig } from "../config/palettizer.js";
import type { MLModel } from "../format/model.js";
import { elementCount, type Tensor } from "../kernels/dtype.js";
import { compressModel } from "../passes/registry.js";
import type { ProgressCallback } from "../progress.js";
import { OutputStats } from "../runtime/compare.js";
import { Interpreter, type LoadOptions } from "../runtime/interpreter.js";
import type { RuntimeValue } from "../runtime/value.js";
import { measureNeuralSensitivity } from "./neural-sensitivity.js";
import { AgreementStats, scoresOutput } from "./task-metrics.js";

/** A config to try on every weight, with a short label for tables. */
export interface Candidate {
  label: string;
  config: OpConfig;
}

/** The default set: int8 per channel, 6/4/3/2-bit k-means, int4 per block of 32. */
export function defaultCandidates(): Candidate[] {
  return [
    { label: "int8/ch", config: linearQuantizerConfig({ dtype: "int8" }) },
    ...[6, 4, 3, 2].map((nbits) => ({
      label: `kmeans${nbits}`,
      config: palettizerConfig({ nbits }),
    })),
    {
      label: "int4/b32",
      config: linearQuantizerConfig({ dtype: "int4", granularity: "per_block", blockSize: 32 }),
    },
  ];
}

export interface SensitivityWeight {
  /** The const op's name (what `op_name_configs` keys). */
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

export interface SensitivityOptions extends LoadOptions {
  candidates?: readonly Candidate[];
  onProgress?: ProgressCallback;
}

interface Variant {
  candidate: Candidate;
  value: RuntimeValue;
  bytes: number;
  weightSnrDb?: number;
}

/** Classes at least this many make an output's last axis class scores (as in compare). */
const MINIMUM_CLASSES = 5;

/** Measures every weight × candidate on `samples` (a list of input records). */
export async function measureSensitivity(
  model: MLModel,
  samples: readonly Record<string, Tensor>[],
  options: SensitivityOptions = {},
): Promise<SensitivityTable> {
  if (model.spec.Type.case !== "mlProgram") {
    return measureNeuralSensitivity(model, samples, options);
  }
  const candidates = options.candidates ?? defaultCandidates();
  const reference = await Interpreter.load(model, options);
  const output = scoresOutput(reference);
  const outputShape = reference.outputs.find((o) => o.name === output)!.shape;
  const scores = (outputShape[outputShape.length - 1] ?? MINIMUM_CLASSES) >= MINIMUM_CLASSES;

  // Each candidate applied to every weight at once gives every weight's compressed form.
  const weights = new Map<string, SensitivityWeight>();
  const variants = new Map<string, Variant[]>();
  const skipped: SensitivityTable["skipped"] = [];
  for (const candidate of candidates) {
    const result = await compressModel(model, { globalConfig: candidate.config }, options);
    try {
      const compressed = await Interpreter.load(result.model, options);
      for (const w of result.weights) {
        const value = compressed.constant(w.value);
        if (!value) throw new Error(`compressed weight ${w.value} was not materialized`);
        const elements = elementCount(w.shape);
        if (!weights.has(w.name)) {
          weights.set(w.name, {
            name: w.name,
            value: w.source,
            shape: w.shape,
            elements,
            bytes: w.bytesBefore,
          });
        }
        const list = variants.get(w.name) ?? [];
        list.push({ candidate, value, bytes: w.bytesAfter, weightSnrDb: w.snrDb });
        variants.set(w.name, list);
      }
      for (const s of result.skipped) {
        if (s.config)
          skipped.push({ weight: s.name, candidate: candidate.label, reason: s.reason });
      }
    } finally {
      await result.model.close();
    }
  }
  const ordered = [...weights.values()].sort(
    (a, b) => firstReader(reference, a.value) - firstReader(reference, b.value),
  );

  // Trial statistics, accumulated over samples.
  const stats = new Map<string, { snr: OutputStats; agreement: AgreementStats }>();
  const key = (weight: string, candidate: string) => `${weight}\u0000${candidate}`;
  const total = samples.length * [...variants.values()].reduce((n, v) => n + v.length, 0);
  let done = 0;
  for (const sample of samples) {
    const recorded = new Map<string, RuntimeValue>();
    const expected = reference.predict(sample, {
      observe: (name, value) => {
        if (!recorded.has(name)) recorded.set(name, { ...value, data: value.data.slice() });
      },
    })[output];
    for (const weight of ordered) {
      const step = firstReader(reference, weight.value);
      for (const variant of variants.get(weight.name) ?? []) {
        options.onProgress?.({
          done: done++,
          total,
          name: `${weight.name} ${variant.candidate.label}`,
        });
        const got = reference.predict(sample, {
          replace: new Map([[weight.value, variant.value]]),
          resume: { step, values: recorded },
        })[output];
        const k = key(weight.name, variant.candidate.label);
        let s = stats.get(k);
        if (!s)
          stats.set(k, (s = { snr: new OutputStats(output), agreement: new AgreementStats() }));
        s.snr.add(expected, got);
        if (scores) {
          const classes = expected.shape[expected.shape.length - 1];
          s.agreement.add(expected.data as Float32Array, got.data as Float32Array, classes);
        }
      }
    }
  }
  options.onProgress?.({ done: total, total, name: "" });

  const trials: Trial[] = [];
  for (const weight of ordered) {
    for (const variant of variants.get(weight.name) ?? []) {
      const s = stats.get(key(weight.name, variant.candidate.label));
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
    weights: ordered,
    candidates: [...candidates],
    trials,
    skipped,
  };
}

function firstReader(program: Interpreter, value: string): number {
  return program.firstReader(value) ?? 0;
}
