/**
 * The walk every weight compression shares: select the weights coremltools would compress
 * (selection.ts, which also says why the others are left alone), resolve each one's config and
 * channel axes, let the compression build replacement ops, point the consumers at them, and
 * report what happened to every weight.
 */
import type { Operation, Value } from "../format/gen/MIL_pb.js";
import { createDefaultPool } from "../parallel/default-pool.js";
import { chooseWeight, visitsOp, visitsWithoutLiterals } from "./selection.js";
import type { MLModel } from "../format/model.js";
import { modelTree } from "../format/model-tree.js";
import { ConfigError, UnsupportedError } from "../errors.js";
import { byteLength, elementCount, type ElementType, type Tensor } from "../kernels/dtype.js";
import type { HalfRangeLoss } from "../kernels/fp16.js";
import {
  expectConfigKinds,
  type OpConfig,
  type OptimizationConfig,
} from "../config/optimization-config.js";
import { OWN_POOL_MINIMUM_BYTES, type TaskPool } from "../parallel/task-pool.js";
import type { Calibration } from "./calibration.js";
import { opName } from "../program/ops.js";
import { rewriteWeights, type RewriteContext, type RewriteOptions } from "../program/rewriter.js";
import { supports, requireTarget, raiseTarget, type Target } from "../program/targets.js";
import { inheritValidation, validateProgram } from "../program/validate.js";
import { allOperations } from "../program/walk.js";
import { WeightSharing, renameReused, sameBlob, type SharingTicket } from "./shared-weights.js";
import {
  checkJointModel,
  jointParameterNames,
  type JointInputs,
  type JointParameter,
} from "./joint.js";

/** A weight chosen for compression, as a compression sees it. */
export interface WeightCandidate {
  /** Name of the const op (and prefix of the ops replacing it). */
  readonly name: string;
  readonly functionName: string;
  readonly tensor: Tensor;
  readonly consumers: readonly Operation[];
  /**
   * The weight's output-channel and input-channel axes as its consumers use it (conv and linear
   * weights [out, in, ...]; conv_transpose [in, out, ...]; matmul by its transposes), or
   * undefined when consumers disagree.
   */
  readonly outputChannelAxis: number | undefined;
  readonly inputChannelAxis: number | undefined;
  readonly specificationVersion: number;
  /**
   * Whether `tensor.data` alone uses its buffer (a fresh read of a weight-file blob), so a
   * compression may transfer the buffer to a worker thread instead of copying it; the tensor's
   * data is unreadable afterwards.
   */
  readonly ownsBuffer: boolean;
  /** A literal value for a new op: inline or in the weight file, as coremltools would store it. */
  value(tensor: Tensor): Value;
  /** Joint compression: the compressed op's parameter this weight is (see joint.ts). */
  readonly joint?: JointParameter;
  /** Whether the config names this weight in `op_name_configs` (not just its op type). */
  readonly namedInConfig: boolean;
}

/** What a compression made of one weight. */
export interface CompressedWeight {
  /**
   * Ops replacing the const (or, joint, the op holding the parameter), in program order; the
   * last one's first output replaces it.
   */
  ops: Operation[];
  /** Signal-to-noise ratio (dB) of the dense reconstruction, when the compression measured it. */
  snrDb?: number;
  /**
   * The compression's float16 parameters (scales, tables) that float16 holds only as
   * subnormals, zeros or infinities, when there are some.
   */
  float16Loss?: HalfRangeLoss;
  /** A data-aware config's weight compressed the data-free way instead, and why. */
  fallback?: string;
  /** Sensitive k-means: the exponent α of the input energies d^α that weighed its elements. */
  importanceExponent?: number;
}

export interface WeightCompressor<C extends OpConfig> {
  /** The pass's name, for messages (`linear_quantize_weights`). */
  readonly passName: string;
  /** Config kinds the pass accepts. */
  readonly configKinds: readonly string[];
  /** The constexpr op inputs the pass can compress further in joint compression. */
  readonly jointInputs?: JointInputs;
  /**
   * Worker threads the pass wants for `config` when the caller gives no pool (e.g. the
   * palettizer's num_kmeans_workers); undefined leaves it to the model's size.
   */
  workersFor?(config: OptimizationConfig<C>): number | undefined;
  /** Compresses one weight, or says why it leaves it as it is. */
  compress(
    weight: WeightCandidate,
    config: C,
    resources: CompressionResources,
  ): Promise<CompressedWeight | { skipped: string }>;
}

/** Why a weight whose consumers use different channel axes is left alone. */
export const DISAGREEING_CONSUMERS = "its consumers use it along different channel axes";

/** A weight the pass left alone, and why. */
export interface SkippedWeight {
  name: string;
  functionName: string;
  reason: string;
  /** The config that applied to it, when one did. */
  config?: OpConfig;
}

/** One compressed weight, for reports. */
export interface WeightReport {
  name: string;
  functionName: string;
  /** The value its consumers read before the compression, and the one they read after. */
  source: string;
  value: string;
  dtype: ElementType;
  shape: readonly number[];
  config: OpConfig;
  bytesBefore: number;
  bytesAfter: number;
  snrDb?: number;
  /** See CompressedWeight. */
  float16Loss?: HalfRangeLoss;
  fallback?: string;
  /** See CompressedWeight. */
  importanceExponent?: number;
  /**
   * A weight of another function (or earlier in this one) with the same data, whose compressed
   * blobs this one shares (then bytesAfter is 0, and bytesBefore too when the input shared them).
   */
  sharedWith?: { functionName: string; name: string };
}

/** Shared means a compression may use for its numeric work. */
export interface CompressionResources {
  /** Worker threads for large tensors' kernels (absent: run them inline). */
  pool?: TaskPool;
  /** Statistics of the weights' inputs, for data-aware configs (GPTQ, sensitive k-means). */
  calibration?: Calibration;
}

export interface CompressionOptions extends Omit<RewriteOptions, "filter" | "alsoVisit"> {
  /**
   * Worker threads for the kernels. Without one, a pool of `workers` threads (default: the
   * pass's choice for the config, else one per core for models of 64 MB of weights or more,
   * none below) is started for the call and closed after it; 0 runs everything inline. A pool
   * passed here serves any number of calls.
   */
  pool?: TaskPool;
  workers?: number;
  /** Raise models older than this target to it first (spec version and opset). */
  raiseTarget?: Target;
  /**
   * Joint compression (iOS18+): also compress the parameters of ops an earlier compression
   * made (see joint.ts), as coremltools' `joint_compression=True`.
   */
  joint?: boolean;
  /** See CompressionResources (collected by calibrate/'s compressWithCalibration). */
  calibration?: Calibration;
  /** Compress only the weights of this function (multifunction models). */
  functionName?: string;
  /**
   * Compress only the weights (const op names) this accepts; the others pass through
   * unreported (sequential calibration compresses a model a few weights at a time).
   */
  weights?: (name: string) => boolean;
}

export interface CompressionResult {
  model: MLModel;
  weights: WeightReport[];
  /** Weights the pass left alone, in program order, with the reason. */
  skipped: SkippedWeight[];
}

async function weightFileBytes(model: MLModel): Promise<number> {
  let total = 0;
  for (const source of model.weightFiles.values()) {
    const reader = await source.open();
    total += reader.size;
    await reader.close();
  }
  return total;
}

/** The pool a call runs on: the caller's, else one of its own when the model is worth it. */
async function ownPool<C extends OpConfig>(
  model: MLModel,
  config: OptimizationConfig<C>,
  compressor: WeightCompressor<C>,
  options: CompressionOptions,
): Promise<TaskPool | undefined> {
  if (options.pool) return undefined;
  const size = options.workers ?? compressor.workersFor?.(config);
  if (size === 0) return undefined;
  if (size === undefined && (await weightFileBytes(model)) < OWN_POOL_MINIMUM_BYTES) {
    return undefined;
  }
  const pool = createDefaultPool(size);
  // Its workers boot while the model is read and the first weights prepared (a fresh pool's
  // jobs otherwise wait 100–200 ms for them).
  pool?.start?.();
  return pool;
}

/**
 * Fails when `op_name_configs` names an op the model does not have (or, joint, a parameter
 * name it does not have). With a weights filter (a compression in parts, whose earlier parts
 * have replaced their weights), only the names it accepts.
 */
export function checkOpNames(
  config: OptimizationConfig,
  model: MLModel,
  jointNames: readonly string[] = [],
  accepts: (name: string) => boolean = () => true,
): void {
  const names = Object.keys(config.opNameConfigs ?? {}).filter(accepts);
  if (names.length === 0) return;
  const known = new Set<string>(jointNames);
  for (const { model: nested } of modelTree(model.spec)) {
    if (nested.Type.case !== "mlProgram") continue;
    for (const { op } of allOperations(nested.Type.value)) known.add(opName(op));
  }
  for (const name of names) {
    if (!known.has(name))
      throw new ConfigError(`op_name_configs.${name}: the model has no op named ${name}`);
  }
}

/** Fails when `functionName` names no function of the model's ML programs. */
export function checkFunctionName(model: MLModel, functionName: string | undefined): void {
  if (functionName === undefined) return;
  const names = new Set<string>();
  for (const { model: nested } of modelTree(model.spec)) {
    if (nested.Type.case === "mlProgram") {
      for (const name of Object.keys(nested.Type.value.functions)) names.add(name);
    }
  }
  if (!names.has(functionName)) {
    throw new ConfigError(
      `--function ${functionName}: the model has no function named ${functionName} (it has ${[...names].join(", ") || "none"})`,
    );
  }
}

/** Whether an ML program of the model has several functions, whose weights may be shared. */
function hasSeveralFunctions(model: MLModel): boolean {
  return [...modelTree(model.spec)].some(
    ({ model: nested }) =>
      nested.Type.case === "mlProgram" && Object.keys(nested.Type.value.functions).length > 1,
  );
}

/**
 * Fails for models without any ML program but with a neural network: ML program passes would
 * find nothing to do, and neural networks have their own pass.
 */
function refuseNeuralNetworks(model: MLModel, passName: string): void {
  const kinds = [...modelTree(model.spec)].map(({ model: nested }) => nested.Type.case);
  if (kinds.includes("mlProgram")) return;
  const neural = ["neuralNetwork", "neuralNetworkClassifier", "neuralNetworkRegressor"];
  if (kinds.some((kind) => kind !== undefined && neural.includes(kind))) {
    throw new UnsupportedError(
      `${passName} compresses ML programs; this is a neural-network model: use \`quantize-weights\` (quantizeWeights in the API)`,
    );
  }
}

/**
 * Compressed weights (constexpr ops) need iOS16: an ML program for an older target would be
 * left untouched, which users would not expect, so say how to raise it instead.
 */
function requireCompressibleTarget(model: MLModel, passName: string): void {
  const programs = [...modelTree(model.spec)].filter((m) => m.model.Type.case === "mlProgram");
  const old = programs.filter((m) => !supports(m.model.specificationVersion, "iOS16"));
  if (programs.length === 0 || old.length < programs.length) return;
  requireTarget(old[0].model.specificationVersion, "iOS16", `${passName}: compressing weights`);
}

/**
 * Runs one weight compression over every ML program of `model`. The input model is left as it
 * is; the result's weights live in temporary files until it is saved.
 */
export async function compressWeights<C extends OpConfig>(
  input: MLModel,
  config: OptimizationConfig<C>,
  compressor: WeightCompressor<C>,
  options: CompressionOptions = {},
): Promise<CompressionResult> {
  refuseNeuralNetworks(input, compressor.passName);
  expectConfigKinds(config, compressor.configKinds, compressor.passName);
  const jointInputs = options.joint ? compressor.jointInputs : undefined;
  if (options.joint && !jointInputs) {
    throw new ConfigError(`${compressor.passName} has no joint compression`);
  }
  const jointNames = jointInputs ? jointParameterNames(input, jointInputs) : [];
  checkOpNames(config, input, jointNames, options.weights);
  checkFunctionName(input, options.functionName);
  // Validated before it is raised, so the raised copy (which differs only in its opset and
  // specification version) is known valid and a model compressed again is checked only once.
  await validateProgram(input);
  const model = options.raiseTarget ? raiseTarget(input, options.raiseTarget) : input;
  inheritValidation(model.spec, input.spec);
  requireCompressibleTarget(model, compressor.passName);
  const reports: { order: number; report: WeightReport }[] = [];
  const skipped: { order: number; skip: SkippedWeight }[] = [];
  let visits = 0;
  const joint = { active: jointInputs !== undefined, inputs: compressor.jointInputs };
  const pool = options.pool ?? (await ownPool(model, config, compressor, options));
  const sharing = hasSeveralFunctions(model) ? new WeightSharing() : undefined;

  const visit = async (context: RewriteContext) => {
    // Visits start in program order (but may finish in any order): keep reports in that order.
    const order = visits++;
    const ticket = sharing?.ticket();
    try {
      return await visitInTurn(context, order, ticket);
    } finally {
      ticket?.release();
    }
  };

  const visitInTurn = async (
    context: RewriteContext,
    order: number,
    ticket: SharingTicket | undefined,
  ) => {
    const { functionName } = context;
    const choice = await chooseWeight(context, config, joint);
    if (!choice || (options.weights && !options.weights(choice.name))) return undefined;
    const skip = (name: string, reason: string, config?: OpConfig) => {
      skipped.push({ order, skip: { name, functionName, reason, ...(config && { config }) } });
      return undefined;
    };
    if ("skipped" in choice) return skip(choice.name, choice.skipped, choice.config);
    const { name, output, tensor, consumers, axes, opConfig, stored } = choice;
    const first =
      ticket && !choice.parameter
        ? await ticket.claim({
            functionName,
            name,
            output,
            consumers,
            config: opConfig,
            op: context.op,
            tensor,
          })
        : undefined;
    ticket?.release();
    if (first) {
      const earlier = await first.result;
      if ("skipped" in earlier) return skip(name, earlier.skipped, opConfig);
      const ops = renameReused(context.reuse(earlier.ops), first.output, output);
      const replacement = ops[ops.length - 1].outputs[0].name;
      reports.push({
        order,
        report: {
          name,
          functionName,
          source: output,
          value: replacement,
          dtype: stored.dtype,
          shape: stored.shape,
          config: opConfig,
          bytesBefore: sameBlob(first, context.op) ? 0 : byteLength(stored.dtype, stored.count),
          bytesAfter: 0,
          snrDb: earlier.snrDb,
          sharedWith: { functionName: first.functionName, name: first.name },
        },
      });
      return { ops, renames: replacement === output ? [] : [{ from: output, to: replacement }] };
    }
    let bytesAfter = 0;
    const compressing = compressor.compress(
      {
        name,
        functionName,
        tensor,
        consumers,
        outputChannelAxis: axes.output,
        inputChannelAxis: axes.input,
        specificationVersion: context.specificationVersion,
        ownsBuffer: choice.freshRead,
        value(t) {
          bytesAfter += byteLength(t.dtype, elementCount(t.shape));
          return context.value(t);
        },
        ...(choice.parameter && { joint: choice.parameter }),
        namedInConfig: Object.prototype.hasOwnProperty.call(config.opNameConfigs ?? {}, name),
      },
      opConfig,
      { pool, calibration: options.calibration },
    );
    ticket?.settle(compressing);
    const compressed = await compressing;
    if ("skipped" in compressed) return skip(name, compressed.skipped, opConfig);
    reports.push({
      order,
      report: {
        name,
        functionName,
        source: output,
        value: compressed.ops[compressed.ops.length - 1].outputs[0].name,
        dtype: stored.dtype,
        shape: stored.shape,
        config: opConfig,
        bytesBefore: byteLength(stored.dtype, stored.count),
        bytesAfter,
        snrDb: compressed.snrDb,
        ...(compressed.float16Loss && { float16Loss: compressed.float16Loss }),
        ...(compressed.fallback && { fallback: compressed.fallback }),
        ...(compressed.importanceExponent !== undefined && {
          importanceExponent: compressed.importanceExponent,
        }),
      },
    });
    const replacement = compressed.ops[compressed.ops.length - 1].outputs[0].name;
    return {
      ops: compressed.ops,
      renames: replacement === output ? [] : [{ from: output, to: replacement }],
    };
  };

  let result: MLModel;
  try {
    if (jointInputs) checkJointModel(model, jointInputs, compressor.passName);
    result = await rewriteWeights(model, visit, {
      ...options,
      filter: visitsOp,
      alsoVisit: visitsWithoutLiterals,
    });
  } finally {
    if (model !== input) await model.close();
    if (pool !== options.pool) await pool?.close();
  }
  const inOrder = <T extends { order: number }>(items: T[]) =>
    items.sort((a, b) => a.order - b.order);
  return {
    model: result,
    weights: inOrder(reports).map((r) => r.report),
    skipped: inOrder(skipped).map((s) => s.skip),
  };
}
