/**
 * How much each weight matters: for every compressible weight and candidate config, that weight
 * alone is compressed (by the same compressors `compress` uses) and the change in the model's
 * outputs measured on calibration samples. Each candidate compresses the whole model once, and
 * its weights, materialized, are swapped in one at a time; each trial resumes the program at
 * the first op that reads the weight, from the reference run's values, so only the ops after
 * it run again. Neural networks are measured layer by layer (neural-sensitivity.ts).
 */
import { linearQuantizerConfig } from "../config/linear-quantizer.js";
import { palettizerConfig } from "../config/palettizer.js";
import type { MLModel } from "../format/model.js";
import { elementCount, type Tensor } from "../kernels/dtype.js";
import { compressModel } from "../passes/registry.js";
import type { ProgressCallback } from "../progress.js";
import { Interpreter, type LoadOptions } from "../runtime/interpreter.js";
import type { RuntimeValue } from "../runtime/value.js";
import { measureNeuralSensitivity } from "./neural-sensitivity.js";
import {
  runTrials,
  type Candidate,
  type SensitivityTable,
  type SensitivityWeight,
  type Variant,
} from "./trials.js";

export type { Candidate, SensitivityTable, SensitivityWeight, Trial } from "./trials.js";

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

export interface SensitivityOptions extends LoadOptions {
  candidates?: readonly Candidate[];
  onProgress?: ProgressCallback;
}

interface ConstantVariant extends Variant {
  value: RuntimeValue;
}

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

  // Each candidate applied to every weight at once gives every weight's compressed form.
  const weights = new Map<string, SensitivityWeight>();
  const variants = new Map<string, ConstantVariant[]>();
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

  const run = (sample: Record<string, Tensor>, output: string) => {
    const recorded = new Map<string, RuntimeValue>();
    const expected = reference.predict(sample, {
      observe: (name, value) => {
        if (!recorded.has(name)) recorded.set(name, { ...value, data: value.data.slice() });
      },
    })[output];
    const trial = (weight: SensitivityWeight, variant: ConstantVariant) =>
      reference.predict(sample, {
        replace: new Map([[weight.value, variant.value]]),
        resume: { step: firstReader(reference, weight.value), values: recorded },
      })[output];
    return { expected, trial };
  };
  return runTrials(
    { reference, run, weights: ordered, variants, candidates, skipped },
    samples,
    options.onProgress,
  );
}

function firstReader(program: Interpreter, value: string): number {
  return program.firstReader(value) ?? 0;
}
