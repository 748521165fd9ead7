/**
 * `linearQuantizeWeights`: coremltools' `linear_quantize_weights`. Each selected weight becomes
 * an int8/uint8/int4/uint4 tensor with per-block scales (and zero points), decoded by
 * `constexpr_affine_dequantize` on iOS16/17 models and `constexpr_blockwise_shift_scale` on
 * iOS18 and newer.
 */
import { WORKER_MINIMUM_ELEMENTS } from "../parallel/task-pool.js";
import type { Operation } from "../format/gen/MIL_pb.js";
import { ConfigError } from "../errors.js";
import { LINEAR_QUANTIZER, type OpLinearQuantizerConfig } from "../config/linear-quantizer.js";
import type { OptimizationConfig } from "../config/optimization-config.js";
import type { Tensor } from "../kernels/dtype.js";
import { hasHalfRangeLoss, storedHalfRangeLoss } from "../kernels/fp16.js";
import {
  linearQuantize,
  linearQuantizeKept,
  type LinearQuantized,
} from "../kernels/linear-quantize.js";
import { makeOperation } from "../program/ops.js";
import { supports, requireTarget } from "../program/targets.js";
import { immediateValue } from "../program/values.js";
import {
  compressWeights,
  type CompressionOptions,
  type CompressionResult,
  type WeightCandidate,
  type WeightCompressor,
  DISAGREEING_CONSUMERS,
} from "./driver.js";
import { denseJointOps, LUT, SPARSE_DATA, sparseJointOps, type JointParameter } from "./joint.js";

export type LinearQuantizeOptions = CompressionOptions;

/**
 * Block size per axis for a weight, as coremltools infers it from the granularity and the
 * consumers' channel axes; undefined when the axes cannot be decided.
 */
export function inferBlockSizes(
  weight: Pick<WeightCandidate, "name" | "tensor" | "outputChannelAxis" | "inputChannelAxis">,
  config: OpLinearQuantizerConfig,
): number[] | undefined {
  const rank = weight.tensor.shape.length;
  if (config.granularity === "per_block" && typeof config.blockSize !== "number") {
    if (config.blockSize.length !== rank) {
      throw new ConfigError(
        `weight ${weight.name}: block_size has ${config.blockSize.length} entries but the weight has ${rank} axes`,
      );
    }
    return [...config.blockSize];
  }
  const { inputChannelAxis: input, outputChannelAxis: output } = weight;
  if (input === undefined || output === undefined) return undefined;
  const sizes = new Array<number>(rank).fill(0);
  const [inputBlock, outputBlock] =
    config.granularity === "per_tensor"
      ? [0, 0]
      : config.granularity === "per_channel"
        ? [0, 1]
        : [config.blockSize as number, 1];
  if (input < rank) sizes[input] = inputBlock;
  if (output < rank) sizes[output] = outputBlock;
  return sizes;
}

function requireIos18(weight: WeightCandidate, config: OpLinearQuantizerConfig): void {
  if (supports(weight.specificationVersion, "iOS18")) return;
  const feature =
    config.granularity === "per_block"
      ? "per_block quantization"
      : config.dtype.endsWith("4")
        ? "4-bit quantization"
        : undefined;
  if (!feature) return;
  requireTarget(weight.specificationVersion, "iOS18", `weight ${weight.name}: ${feature}`);
}

/** Drops the axes of size 1 (iOS16's op takes rank-0 or rank-1 scales and zero points). */
function squeeze(tensor: Tensor): { tensor: Tensor; axis: number } {
  const kept = tensor.shape.map((d, i) => [d, i]).filter(([d]) => d > 1);
  if (kept.length > 1) {
    throw new ConfigError(
      `constexpr_affine_dequantize cannot hold scales varying along ${kept.length} axes`,
    );
  }
  return {
    tensor: { ...tensor, shape: kept.map(([d]) => d) },
    axis: kept.length === 1 ? kept[0][1] : 0,
  };
}

function quantizedOps(weight: WeightCandidate, q: LinearQuantized): Operation[] {
  const name = `${weight.name}_quantized`;
  const output = [{ name, dtype: weight.tensor.dtype, shape: weight.tensor.shape }];
  if (supports(weight.specificationVersion, "iOS18")) {
    const inputs = {
      data: weight.value(q.data),
      scale: weight.value(q.scale),
      ...(q.zeroPoint ? { offset: weight.value(q.zeroPoint) } : {}),
    };
    return [makeOperation("constexpr_blockwise_shift_scale", name, inputs, output)];
  }
  const scale = squeeze(q.scale);
  const zeroPoint = squeeze(
    q.zeroPoint ?? {
      dtype: q.data.dtype,
      shape: q.scale.shape,
      data: new Int8Array(q.scale.data.length),
    },
  );
  const attributes = {
    quantized_data: weight.value(q.data),
    zero_point: weight.value(zeroPoint.tensor),
    scale: weight.value(scale.tensor),
    axis: immediateValue({ dtype: "int32", shape: [], data: Int32Array.of(scale.axis) }),
  };
  return [makeOperation("constexpr_affine_dequantize", name, {}, output, attributes)];
}

/**
 * Joint compression: a pruned weight's kept values (all `q.data` holds then) go through
 * `constexpr_sparse_blockwise_shift_scale` (reading the same mask as the sparse op), a table is
 * quantized by a `constexpr_blockwise_shift_scale` feeding the palettization op.
 */
function jointOps(weight: WeightCandidate, joint: JointParameter, q: LinearQuantized): Operation[] {
  if (joint.input !== SPARSE_DATA) return denseJointOps(joint, quantizedOps(weight, q)[0]);
  const inputs = {
    nonzero_data: weight.value(q.data),
    scale: weight.value(q.scale),
    ...(q.zeroPoint ? { offset: weight.value(q.zeroPoint) } : {}),
  };
  const sparseOp = {
    type: "constexpr_sparse_blockwise_shift_scale",
    name: `${weight.name}_quantized`,
    maskInput: "data_mask",
    inputs,
  };
  return sparseJointOps(joint, sparseOp, weight.tensor.dtype, true);
}

/** Why blocks of these sizes cannot tile a weight of `shape`, if they cannot. */
function blockMismatch(
  shape: readonly number[],
  blockSizes: readonly number[],
): string | undefined {
  const axis = blockSizes.findIndex((block, i) => block > 0 && shape[i] % block !== 0);
  if (axis < 0) return undefined;
  return `block size ${blockSizes[axis]} does not divide axis ${axis} (size ${shape[axis]})`;
}

export const linearQuantizer: WeightCompressor<OpLinearQuantizerConfig> = {
  passName: "linear_quantize_weights",
  configKinds: [LINEAR_QUANTIZER],
  jointInputs: {
    constexpr_sparse_to_dense: SPARSE_DATA,
    constexpr_lut_to_dense: LUT,
    constexpr_lut_to_sparse: LUT,
  },
  async compress(weight, config, { pool }) {
    requireIos18(weight, config);
    // A table's axes are not the weight's: only one scale for the whole table makes sense.
    if (weight.joint?.input === LUT && config.granularity !== "per_tensor") {
      throw new ConfigError(
        `weight ${weight.name}: quantizing a palettization table (joint compression) needs ` +
          `per_tensor granularity, not ${config.granularity}`,
      );
    }
    const blockSizes = inferBlockSizes(weight, config);
    if (!blockSizes) return { skipped: DISAGREEING_CONSUMERS };
    const mismatch = blockMismatch(weight.tensor.shape, blockSizes);
    if (mismatch) return { skipped: mismatch };
    const spec = { mode: config.mode, dtype: config.dtype, blockSizes };
    // A pruned weight's kept data is gathered where it is quantized (its mask is not needed after).
    const keep = weight.joint?.mask?.packed;
    const transfer = [
      ...(weight.ownsBuffer ? [weight.tensor.data as ArrayBufferView] : []),
      ...(keep ? [keep] : []),
    ]
      .filter((view) => view.byteLength === view.buffer.byteLength)
      .map((view) => view.buffer as ArrayBuffer);
    const quantized =
      pool && weight.tensor.data.length >= WORKER_MINIMUM_ELEMENTS
        ? await pool.run<LinearQuantized | undefined>(
            "linearQuantize",
            { weight: weight.tensor, spec, keep },
            transfer,
          )
        : keep
          ? linearQuantizeKept(weight.tensor, spec, keep)
          : linearQuantize(weight.tensor, spec);
    if (!quantized) return { skipped: "a block holds an infinity or a NaN" };
    const ops = weight.joint
      ? jointOps(weight, weight.joint, quantized)
      : quantizedOps(weight, quantized);
    // fp16 weights get fp16 scales: tiny blocks give subnormal ones.
    const loss =
      quantized.scale.dtype === "fp16"
        ? storedHalfRangeLoss(quantized.scale.data as Uint16Array)
        : undefined;
    return {
      ops,
      snrDb: quantized.snrDb,
      ...(loss && hasHalfRangeLoss(loss) && { float16Loss: loss }),
    };
  },
};

/** Quantizes the model's weights linearly; the input model is not modified. */
export function linearQuantizeWeights(
  model: Parameters<typeof compressWeights>[0],
  config: OptimizationConfig<OpLinearQuantizerConfig>,
  options: LinearQuantizeOptions = {},
): Promise<CompressionResult> {
  return compressWeights(model, config, linearQuantizer, options);
}
