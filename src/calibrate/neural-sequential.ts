/**
 * Sequential calibration for neural networks (sequential.ts does it for ML programs): the
 * layers a k-means algorithm fits to statistics are quantized in network order, a stage at a
 * time, each stage's statistics gathered on the network whose earlier layers are already
 * quantized, so each layer also answers the error the ones before it let through (statistics
 * from the float network describe inputs the quantized network never sees). A stage is a run of
 * such layers reading the same blob (a fire module's two expansions): they see the same input
 * either way. Every other layer is quantized first, the data-free way, in one pass.
 *
 * With `compensate`, each stage also runs beside the float network, and its layers are fitted
 * to give the float network's output from their quantized inputs rather than their own output
 * on those inputs (kernels/compensate.ts): the error let through is then corrected, not only
 * seen.
 */
import type { MLModel } from "../format/model.js";
import type { Tensor } from "../kernels/dtype.js";
import {
  calibratedLayers,
  quantizeWeights,
  type CalibratedLayer,
  type LayerQuantization,
  type QuantizeWeightsOptions,
} from "../passes/neural-quantize.js";
import { skipLayersSelector } from "../neural/selectors.js";
import type { ProgressCallback } from "../progress.js";
import { measuredCalibration, type MeasureHorizon } from "./neural-measure.js";
import { collectNeuralStatistics } from "./neural-statistics.js";

export interface SequentialQuantizeOptions extends Omit<QuantizeWeightsOptions, "calibration"> {
  /** Also measure each stage's candidate tables on the samples (see neural-measure.ts). */
  measure?: MeasureHorizon;
  /** Fit each layer to the float network's output (see above). */
  compensate?: boolean;
  /** Progress over the stages' calibration runs (one per stage and sample). */
  onCalibrationProgress?: ProgressCallback;
}

/** Runs of layers reading the same blob, in network order. */
function stagesOf(layers: readonly CalibratedLayer[]): CalibratedLayer[][] {
  const stages: CalibratedLayer[][] = [];
  for (const layer of layers) {
    const last = stages[stages.length - 1];
    if (last && last[0].input === layer.input) last.push(layer);
    else stages.push([layer]);
  }
  return stages;
}

/**
 * `quantizeWeights(model, options)` with each calibrated layer's statistics gathered on
 * `samples` through the network as quantized so far. The caller closes the returned model.
 */
export async function quantizeWeightsSequentially(
  model: MLModel,
  samples: readonly Record<string, Tensor>[],
  options: SequentialQuantizeOptions,
): Promise<MLModel> {
  const { measure, compensate, onCalibrationProgress, ...quantize } = options;
  const stages = stagesOf(calibratedLayers(model, quantize));
  const calibrated = stages.flat().map((layer) => layer.name);
  const userSelector = quantize.selector;
  // Every other layer first, without statistics (none of them reads any).
  let current = await quantizeWeights(model, {
    ...quantize,
    selector: skipLayersSelector(calibrated, userSelector),
    calibration: { statistics: () => undefined },
  });
  const total = stages.length * samples.length;
  try {
    for (const [index, stage] of stages.entries()) {
      const names = new Set(stage.map((layer) => layer.name));
      const statistics = collectNeuralStatistics(current, samples, {
        gram: true,
        layers: names,
        ...(compensate && { reference: model }),
        onProgress: onCalibrationProgress
          ? ({ done }) =>
              onCalibrationProgress({
                done: index * samples.length + done,
                total,
                name: stage[0].name,
              })
          : undefined,
      });
      const calibration = measure
        ? measuredCalibration(current, samples, statistics, { horizon: measure, reference: model })
        : statistics;
      const next = await quantizeWeights(current, {
        ...quantize,
        nbits: undefined,
        layers: Object.fromEntries(stage.map(({ name }) => [name, settingsOf(name, quantize)])),
        selector: (layer, field) => names.has(layer.name) && (userSelector?.(layer, field) ?? true),
        calibration,
      });
      if (current !== model) await current.close();
      current = next;
    }
    return current;
  } catch (error) {
    if (current !== model) await current.close();
    throw error;
  }
}

/** The layer's own settings, else the global ones (calibratedLayers chose it by them). */
function settingsOf(name: string, options: QuantizeWeightsOptions): LayerQuantization {
  const own = options.layers?.[name];
  return {
    nbits: own?.nbits ?? options.nbits!,
    mode: own ? own.mode : options.mode,
    algorithm: own?.algorithm ?? options.algorithm,
  };
}
