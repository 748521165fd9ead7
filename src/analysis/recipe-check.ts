/**
 * A recipe applied and measured: the model compressed with the recipe's steps (the passes
 * `compress --config` runs) and run beside the original on the same samples, so the predicted
 * size and quality can be set against what the recipe really gives.
 */
import { quantizeWeightsSequentially } from "../calibrate/neural-sequential.js";
import { collectNeuralStatistics } from "../calibrate/neural-statistics.js";
import { ConfigError } from "../errors.js";
import type { MLModel } from "../format/model.js";
import type { Tensor } from "../kernels/dtype.js";
import { compressInSteps } from "../passes/compress-steps.js";
import { OutputStats } from "../runtime/compare.js";
import type { LoadOptions } from "../runtime/interpreter.js";
import { loadRunner } from "../runtime/runner.js";
import { neuralNetworkWeights } from "../neural/weights.js";
import { quantizeWeights } from "../passes/neural-quantize.js";
import { recipeLayers, recipeSteps, type Recipe } from "./recipe.js";
import type { SensitivityTable } from "./sensitivity.js";
import { AgreementStats } from "./task-metrics.js";

export interface RecipeMeasurement {
  bytes: number;
  bitsPerWeight: number;
  snrDb: number;
  psnrDb: number;
  top1?: number;
  meanKl?: number;
}

export interface ApplyRecipeOptions extends LoadOptions {
  /** Calibration samples, for a neural network's sensitive k-means layers. */
  samples?: readonly Record<string, Tensor>[];
  /**
   * Fit those layers in network order, each to the statistics of the network quantized before
   * it (neural-sequential.ts), rather than all to the float network's.
   */
  sequential?: boolean;
  /** Sequentially, each fitted to the float network's output (implies `sequential`). */
  compensate?: boolean;
}

/**
 * Compresses `model` with `recipe` (a neural network by quantize_weights settings per layer);
 * the caller closes the returned model. `bytesAfter`: the bytes of each compressed weight, or
 * of each quantized layer's weights.
 */
export async function applyRecipe(
  model: MLModel,
  recipe: Recipe,
  options: ApplyRecipeOptions = {},
): Promise<{ model: MLModel; bytesAfter: Map<string, number> }> {
  if (model.spec.Type.case !== "mlProgram") {
    const layers = recipeLayers(recipe);
    if (Object.keys(layers).length === 0) return { model, bytesAfter: new Map() };
    const calibrated = Object.values(layers).some((l) => l.algorithm);
    if (calibrated && !options.samples?.length) {
      throw new ConfigError("the recipe's sensitive k-means layers need calibration samples");
    }
    const settings = { layers, pool: options.pool, workers: 0 };
    const quantized = !calibrated
      ? await quantizeWeights(model, settings)
      : options.sequential || options.compensate
        ? await quantizeWeightsSequentially(model, options.samples!, {
            ...settings,
            compensate: options.compensate,
          })
        : await quantizeWeights(model, {
            ...settings,
            calibration: collectNeuralStatistics(model, options.samples!, { gram: true }),
          });
    const bytesAfter = new Map<string, number>();
    for (const w of neuralNetworkWeights(quantized.spec)) {
      if (w.modelPath.length > 0 || w.enclosingLayers.length > 0 || !(w.layer in layers)) continue;
      bytesAfter.set(w.layer, (bytesAfter.get(w.layer) ?? 0) + w.byteSize);
    }
    return { model: quantized, bytesAfter };
  }
  const steps = recipeSteps(recipe);
  if (steps.length === 0) return { model, bytesAfter: new Map() };
  const result = await compressInSteps(model, steps, { pool: options.pool });
  const bytesAfter = new Map(
    result.steps.flatMap((s) => s.weights.map((w) => [w.name, w.bytesAfter] as const)),
  );
  return { model: result.model, bytesAfter };
}

/** Applies the recipe and measures its size and the output's change on `samples`. */
export async function measureRecipe(
  model: MLModel,
  recipe: Recipe,
  table: SensitivityTable,
  samples: readonly Record<string, Tensor>[],
  options: Omit<ApplyRecipeOptions, "samples"> = {},
): Promise<RecipeMeasurement> {
  const applied = await applyRecipe(model, recipe, { ...options, samples });
  try {
    const bytes = table.weights.reduce(
      (n, w) => n + (applied.bytesAfter.get(w.name) ?? w.bytes),
      0,
    );
    const elements = table.weights.reduce((n, w) => n + w.elements, 0);
    const [reference, candidate] = await Promise.all([
      loadRunner(model, options),
      loadRunner(applied.model, options),
    ]);
    const snr = new OutputStats(table.output);
    const agreement = new AgreementStats();
    for (const sample of samples) {
      const a = reference.predict(sample)[table.output];
      const b = candidate.predict(sample)[table.output];
      snr.add(a, b);
      if (table.scores) {
        const classes = a.shape[a.shape.length - 1];
        agreement.add(a.data as Float32Array, b.data as Float32Array, classes);
      }
    }
    const { snrDb, psnrDb } = snr.result();
    const scores = table.scores ? agreement.result() : undefined;
    return {
      bytes,
      bitsPerWeight: (bytes * 8) / elements,
      snrDb,
      psnrDb,
      ...(scores && { top1: scores.top1, meanKl: scores.meanKl }),
    };
  } finally {
    if (applied.model !== model) await applied.model.close();
  }
}
