/**
 * Which configs compress from calibration statistics. Each of these algorithms needs the full
 * Gram matrices (sensitive k-means chooses its importance exponent by the layer-output error
 * through XᵀX), so calibration always collects them.
 */
import {
  allConfigs,
  type OpConfig,
  type OptimizationConfig,
} from "../config/optimization-config.js";

const DATA_AWARE_ALGORITHMS = new Set(["gptq", "gptq-kmeans", "sensitive-kmeans"]);

/** Whether this op config compresses from calibration statistics. */
export function usesCalibration(config: OpConfig | null): boolean {
  const algorithm = (config as (OpConfig & { algorithm?: string }) | null)?.algorithm;
  return algorithm !== undefined && DATA_AWARE_ALGORITHMS.has(algorithm);
}

/** Whether any config of `config` is data-aware. */
export function isDataAware(config: OptimizationConfig): boolean {
  return allConfigs(config).some(usesCalibration);
}
