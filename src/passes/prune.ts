/**
 * `prune_weights`: zeroes weights by threshold, magnitude, block or n:m sparsity and stores them
 * as `constexpr_sparse_to_dense` (iOS16/17: attributes with a byte-packed mask and the shape;
 * iOS18+: inputs with a uint1 mask of the weight's shape), as coremltools does.
 */
import { WORKER_MINIMUM_ELEMENTS } from "../parallel/task-pool.js";
import type { Operation } from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/model.js";
import {
  isStructuredPruning,
  MAGNITUDE_PRUNER,
  PRUNER_KINDS,
  STRUCTURED_PRUNING_OPS,
  type PrunerConfig,
} from "../config/pruner.js";
import type { OptimizationConfig } from "../config/optimization-config.js";
import {
  isPrunable,
  prune,
  type PruneResult,
  type PruneSpec,
  type SparseWeight,
} from "../kernels/prune.js";
import { inputNames, makeOperation } from "../program/ops.js";
import { supports } from "../program/targets.js";
import {
  compressWeights,
  type CompressionOptions,
  type CompressionResult,
  type WeightCandidate,
  type WeightCompressor,
} from "./driver.js";

/** Whether every consumer takes the weight as the `weight` of a conv or linear op. */
function feedsConvOrLinearWeight(weight: WeightCandidate): boolean {
  return weight.consumers.every(
    (op) =>
      STRUCTURED_PRUNING_OPS.has(op.type) &&
      Object.keys(op.inputs).every(
        (input) => input === "weight" || !inputNames(op, input).includes(weight.name),
      ),
  );
}

/** What `config` asks of each weight. */
function pruneSpec(config: PrunerConfig): PruneSpec {
  if (config.kind !== MAGNITUDE_PRUNER) {
    return {
      kind: "threshold",
      threshold: config.threshold,
      minimumSparsity: config.minimumSparsityPercentile,
    };
  }
  if (config.nMRatio) {
    const [n, m] = config.nMRatio;
    return { kind: "n:m", n, m, dim: config.dim ?? 1 };
  }
  const block =
    config.blockSize !== undefined
      ? { blockSize: config.blockSize, dim: config.dim ?? 0 }
      : undefined;
  return { kind: "magnitude", targetSparsity: config.targetSparsity ?? 0, block };
}

/** The `constexpr_sparse_to_dense` op holding `sparse` in place of `weight`. */
function sparseToDenseOp(weight: WeightCandidate, sparse: SparseWeight): Operation {
  const { dtype, shape } = weight.tensor;
  const name = `${weight.name}_sparsified`;
  const nonzeroData = weight.value({
    dtype,
    shape: [sparse.nonzeroData.length],
    data: sparse.nonzeroData,
  });
  const output = [{ name, dtype, shape }];
  if (supports(weight.specificationVersion, "iOS18")) {
    const mask = weight.value({ dtype: "uint1", shape, data: sparse.mask, packed: true });
    return makeOperation(
      "constexpr_sparse_to_dense",
      name,
      { nonzero_data: nonzeroData, mask },
      output,
    );
  }
  return makeOperation("constexpr_sparse_to_dense", name, {}, output, {
    nonzero_data: nonzeroData,
    mask: weight.value({ dtype: "uint8", shape: [sparse.mask.length], data: sparse.mask }),
    shape: weight.value({ dtype: "uint32", shape: [shape.length], data: Uint32Array.from(shape) }),
  });
}

export const pruner: WeightCompressor<PrunerConfig> = {
  passName: "prune_weights",
  configKinds: PRUNER_KINDS,
  async compress(weight, config, { pool }) {
    const tensor = weight.tensor;
    if (!isPrunable(tensor)) return { skipped: `${tensor.dtype}: only float weights are pruned` };
    // Block and n:m sparsity only suit conv and linear weights, unless named explicitly.
    if (isStructuredPruning(config) && !weight.namedInConfig && !feedsConvOrLinearWeight(weight)) {
      return {
        skipped:
          "block and n:m sparsity apply to conv and linear weights (name it in op_name_configs to prune it anyway)",
      };
    }
    const spec = pruneSpec(config);
    const result =
      pool && tensor.data.length >= WORKER_MINIMUM_ELEMENTS
        ? await pool.run<PruneResult>(
            "prune",
            { weight: tensor, spec },
            weight.ownsBuffer ? [tensor.data.buffer as ArrayBuffer] : [],
          )
        : prune(tensor, spec);
    if (result.kind === "skipped") return { skipped: result.reason };
    return { ops: [sparseToDenseOp(weight, result.weight)], snrDb: result.snrDb };
  },
};

export type PruneOptions = CompressionOptions;

/** Prunes the weights of every ML program of `model` (coremltools' `prune_weights`). */
export function pruneWeights(
  model: MLModel,
  config: OptimizationConfig<PrunerConfig>,
  options: PruneOptions = {},
): Promise<CompressionResult> {
  return compressWeights(model, config, pruner, options);
}
