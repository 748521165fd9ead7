/** The public API of coreml-optimize. */
export {
  magnitudePrunerConfig,
  thresholdPrunerConfig,
  MAGNITUDE_PRUNER,
  THRESHOLD_PRUNER,
  type OpMagnitudePrunerConfig,
  type OpThresholdPrunerConfig,
  type PrunerConfig,
} from "./config/pruner.js";
export { pruneWeights } from "./passes/prune.js";
