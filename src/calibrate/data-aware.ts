/**
 * Data-aware weight compression on the Core ML model itself: GPTQ linear quantization
 * (`algorithm: "gptq"`) and sensitivity-weighted k-means palettization (`algorithm:
 * "sensitive-kmeans"`). The model runs on calibration samples first (statistics.ts); the
 * compression then reads each weight's input statistics. Weights the statistics do not cover
 * (no consumer the calibration understands) get the data-free method, and the report says so
 * (`fallback`).
 */
import type { MLModel } from "../format/model.js";
import { ConfigError } from "../errors.js";
import type { Tensor } from "../kernels/dtype.js";
import type { OptimizationConfig } from "../config/optimization-config.js";
import type { CompressionOptions, CompressionResult } from "../passes/driver.js";
import { compressModel } from "../passes/registry.js";
import type { ProgressCallback } from "../progress.js";
import { isDataAware } from "./algorithms.js";
import { compressSequentially } from "./sequential.js";
import { collectInputStatistics } from "./statistics.js";

export interface CalibratedCompressionOptions extends CompressionOptions {
  /** The program function to run and compress with statistics (default: the default one). */
  functionName?: string;
  /** Progress of the calibration runs (then of the compression, through `onProgress`). */
  onCalibrationProgress?: ProgressCallback;
  /**
   * Calibrate each layer on the outputs of the layers before it, already compressed (GPTQ's
   * sequential mode; one calibration run per layer, see sequential.ts).
   */
  sequential?: boolean;
}

export { isDataAware };

/**
 * Compresses `model` by `config` (any kind compressModel takes), calibrating first on
 * `samples` (one record of input tensors per sample) when a config is data-aware.
 */
export async function compressWithCalibration(
  model: MLModel,
  config: OptimizationConfig,
  samples: readonly Record<string, Tensor>[],
  options: CalibratedCompressionOptions = {},
): Promise<CompressionResult> {
  if (!isDataAware(config)) return compressModel(model, config, options);
  if (samples.length === 0) {
    throw new ConfigError("data-aware compression needs at least one calibration sample");
  }
  if (options.sequential) return compressSequentially(model, config, samples, options);
  const calibration = await collectInputStatistics(model, samples, {
    gram: true,
    pool: options.pool,
    functionName: options.functionName,
    onProgress: options.onCalibrationProgress,
  });
  return compressModel(model, config, { ...options, calibration });
}
