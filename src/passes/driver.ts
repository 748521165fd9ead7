/**
 * The walk every weight compression shares: find the const weights coremltools would compress,
 * resolve each one's config from the ops that consume it, work out its channel axes from those
 * consumers, let the compression build replacement ops, and point the consumers at them.
 *
 * Candidate rules, as coremltools applies them: a const of fp16/fp32/int8/uint8 with at least 10
 * elements (what it stores in the weight file); its config comes from its own name or its
 * consumers (conflicting consumer configs are an error, even for small weights); it is skipped
 * when it feeds a constexpr op, has rank <= 1, has no more elements than the config's
 * `weightThreshold`, is not a float tensor, or holds an infinity.
 */
import type { Operation, Value } from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/model.js";
import { modelTree } from "../format/model-tree.js";
import { ConfigError, UnsupportedError } from "../errors.js";
import { byteLength, elementCount, type ElementType, type Tensor } from "../kernels/dtype.js";
import type { HalfRangeLoss } from "../kernels/fp16.js";
import {
  configForWeight,
  expectConfigKinds,
  type OpConfig,
  type OptimizationConfig,
} from "../config/optimization-config.js";
import type { TaskPool } from "../parallel/task-pool.js";
import type { BlockGraph } from "../program/graph.js";
import { constValue, inputNames, inputValues, opName } from "../program/ops.js";
import { rewriteWeights, type RewriteContext, type RewriteOptions } from "../program/rewriter.js";
import { supports, requireTarget, raiseTarget, type Target } from "../program/targets.js";
import { tensorTypeInfo } from "../program/types.js";
import { allOperations } from "../program/walk.js";
import { decodeImmediateTensor } from "../program/values.js";
import {
  checkJointModel,
  jointCandidate,
  jointParameterNames,
  readJointCandidate,
  type JointInputs,
  type JointParameter,
} from "./joint.js";

/** Element types of consts coremltools considers (those it keeps in the weight file). */
const CANDIDATE_TYPES = new Set<ElementType>(["fp16", "fp32", "int8", "uint8"]);
const MINIMUM_ELEMENTS = 10;

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
}

export interface WeightCompressor<C extends OpConfig> {
  /** The pass's name, for messages (`linear_quantize_weights`). */
  readonly passName: string;
  /** Config kinds the pass accepts. */
  readonly configKinds: readonly string[];
  /** The constexpr op inputs the pass can compress further in joint compression. */
  readonly jointInputs?: JointInputs;
  /** Compresses one weight, or returns undefined to leave it as it is. */
  compress(
    weight: WeightCandidate,
    config: C,
    resources: CompressionResources,
  ): Promise<CompressedWeight | undefined>;
}

/** One compressed weight, for reports. */
export interface WeightReport {
  name: string;
  functionName: string;
  dtype: ElementType;
  shape: readonly number[];
  config: OpConfig;
  bytesBefore: number;
  bytesAfter: number;
  snrDb?: number;
  /** See CompressedWeight. */
  float16Loss?: HalfRangeLoss;
}

/** Shared means a compression may use for its numeric work. */
export interface CompressionResources {
  /** Worker threads for large tensors' kernels (absent: run them inline). */
  pool?: TaskPool;
}

export interface CompressionOptions extends Omit<RewriteOptions, "filter"> {
  pool?: TaskPool;
  /** Raise models older than this target to it first (spec version and opset). */
  raiseTarget?: Target;
  /**
   * Joint compression (iOS18+): also compress the parameters of ops an earlier compression
   * made (see joint.ts), as coremltools' `joint_compression=True`.
   */
  joint?: boolean;
}

export interface CompressionResult {
  model: MLModel;
  weights: WeightReport[];
}

/**
 * Fails when `op_name_configs` names an op the model does not have (or, joint, a parameter
 * name it does not have).
 */
function checkOpNames(config: OptimizationConfig, model: MLModel, jointNames: string[]): void {
  const names = Object.keys(config.opNameConfigs ?? {});
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

/** The literal bool bound to an op input (inline or through a const op). */
function boolInput(op: Operation, input: string, graph: BlockGraph): boolean {
  let value: Value | undefined = inputValues(op, input)[0];
  const name = inputNames(op, input)[0];
  if (!value && name) {
    const producer = graph.producer(name)?.op;
    value = producer ? constValue(producer) : undefined;
  }
  if (value?.value.case !== "immediateValue" || value.value.value.value.case !== "tensor") {
    return false;
  }
  const tensor = decodeImmediateTensor("bool", [], value.value.value.value.value, opName(op));
  return (tensor.data as Uint8Array)[0] !== 0;
}

/** [output axis, input axis] of a weight of `rank` as `consumer` uses it. */
function consumerAxes(
  consumer: Operation,
  weight: string,
  rank: number,
  graph: BlockGraph,
): [number, number] {
  let axes: [number, number] = [0, 1];
  if (consumer.type === "conv_transpose") axes = [1, 0];
  else if (consumer.type === "matmul") {
    if (inputNames(consumer, "y").includes(weight)) {
      axes = boolInput(consumer, "transpose_y", graph) ? [-2, -1] : [-1, -2];
    } else {
      axes = boolInput(consumer, "transpose_x", graph) ? [-1, -2] : [-2, -1];
    }
  }
  return axes.map((a) => (a < 0 ? a + rank : a)) as [number, number];
}

function channelAxes(
  consumers: readonly Operation[],
  weight: string,
  rank: number,
  graph: BlockGraph,
): { output: number | undefined; input: number | undefined } {
  const outputs = new Set<number>();
  const inputs = new Set<number>();
  for (const consumer of consumers) {
    const [output, input] = consumerAxes(consumer, weight, rank, graph);
    outputs.add(output);
    inputs.add(input);
  }
  const pick = (set: Set<number>, fallback: number) =>
    set.size > 1 ? undefined : set.size === 1 ? [...set][0] : fallback;
  return { output: pick(outputs, 0), input: pick(inputs, 1) };
}

function hasInfinity(tensor: Tensor): boolean {
  if (tensor.dtype === "fp16") {
    const bits = tensor.data as Uint16Array;
    let from = 0;
    if (bits.byteOffset % 4 === 0) {
      // Two halves per read: only words with an all-ones exponent are looked at closely.
      const words = new Uint32Array(bits.buffer, bits.byteOffset, bits.length >>> 1);
      for (let i = 0; i < words.length; i++) {
        const word = words[i];
        if ((word & 0x7c00) === 0x7c00 || (word & 0x7c000000) === 0x7c000000) {
          if ((word & 0x7fff) === 0x7c00 || (word & 0x7fff0000) === 0x7c000000) return true;
        }
      }
      from = words.length * 2;
    }
    for (let i = from; i < bits.length; i++) if ((bits[i] & 0x7fff) === 0x7c00) return true;
    return false;
  }
  const values = tensor.data as Float32Array;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]) === Infinity) return true;
  return false;
}

/** A weight chosen for compression, before the compression sees it. */
interface Selection<C extends OpConfig> {
  name: string;
  /** The output whose uses the compressed weight takes over. */
  output: string;
  tensor: Tensor;
  consumers: Operation[];
  axes: { output: number | undefined; input: number | undefined };
  opConfig: C;
  /** What is stored now, for reports. */
  stored: { dtype: ElementType; shape: number[]; count: number };
  parameter?: JointParameter;
  /** The tensor was just read from a weight-file blob and nothing else holds it. */
  freshRead: boolean;
}

function ownsBuffer(tensor: Tensor): boolean {
  const data = tensor.data as ArrayBufferView;
  return data.buffer instanceof ArrayBuffer && data.byteLength === data.buffer.byteLength;
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
  checkOpNames(config, input, jointInputs ? jointParameterNames(input, jointInputs) : []);
  const model = options.raiseTarget ? raiseTarget(input, options.raiseTarget) : input;
  requireCompressibleTarget(model, compressor.passName);
  const reports: { order: number; report: WeightReport }[] = [];
  let visits = 0;

  /** The const weight `op` holds, if coremltools would compress it. */
  const selectConst = async (context: RewriteContext): Promise<Selection<C> | undefined> => {
    const { op, graph } = context;
    const val = constValue(op);
    const info = tensorTypeInfo(val?.type);
    if (!val || !info || !CANDIDATE_TYPES.has(info.dtype)) return undefined;
    if (info.shape.some((d) => d === null)) return undefined;
    const shape = info.shape as number[];
    const count = elementCount(shape);
    if (count < MINIMUM_ELEMENTS || !supports(context.specificationVersion, "iOS16"))
      return undefined;

    const output = op.outputs[0].name;
    const consumers = graph.consumers(output);
    const opConfig = configForWeight(config, op, consumers);
    if (opConfig === null) return undefined;
    if (consumers.some((c) => c.type.startsWith("constexpr_"))) return undefined;
    if (shape.length <= 1 || count <= opConfig.weightThreshold) return undefined;
    if (info.dtype !== "fp16" && info.dtype !== "fp32") return undefined;

    const tensor = await context.read(val);
    if (hasInfinity(tensor)) return undefined;
    const axes = channelAxes(consumers, output, shape.length, graph);
    const stored = { dtype: info.dtype, shape, count };
    const freshRead = val.value.case === "blobFileValue" && ownsBuffer(tensor);
    return { name: opName(op), output, tensor, consumers, axes, opConfig, stored, freshRead };
  };

  /**
   * Joint: the parameter of a compressed op `op` holds, with the checks coremltools makes of
   * it (the parameter's own size, the dense weight's size against the threshold).
   */
  const selectJoint = async (
    context: RewriteContext,
    inputs: JointInputs,
  ): Promise<Selection<C> | undefined> => {
    const { op, graph } = context;
    const candidate = jointCandidate(op, inputs);
    if (!candidate || !CANDIDATE_TYPES.has(candidate.stored.dtype)) return undefined;
    if (candidate.stored.count < MINIMUM_ELEMENTS) return undefined;
    const output = candidate.output.name;
    const consumers = graph.consumers(output);
    const opConfig = Object.prototype.hasOwnProperty.call(
      config.opNameConfigs ?? {},
      candidate.name,
    )
      ? config.opNameConfigs![candidate.name]
      : configForWeight(config, op, consumers);
    if (opConfig === null) return undefined;
    if (consumers.some((c) => c.type.startsWith("constexpr_"))) return undefined;
    if (candidate.output.count <= opConfig.weightThreshold) return undefined;
    if (candidate.stored.dtype !== "fp16" && candidate.stored.dtype !== "fp32") return undefined;

    const read = await readJointCandidate(context, candidate);
    if (!read || hasInfinity(read.tensor)) return undefined;
    const axes = channelAxes(consumers, output, candidate.output.rank, graph);
    const { dtype, count } = candidate.stored;
    const stored = { dtype, shape: tensorTypeInfo(candidate.value.type)!.shape as number[], count };
    return {
      name: candidate.name,
      output,
      consumers,
      axes,
      opConfig,
      stored,
      // A sparse parameter's dense weight was just built for this visit: workers may take it.
      freshRead: read.parameter.mask !== undefined,
      ...read,
    };
  };

  const visit = async (context: RewriteContext) => {
    // Visits start in program order (but may finish in any order): keep reports in that order.
    const order = visits++;
    const selected =
      context.op.type === "const"
        ? await selectConst(context)
        : jointInputs && (await selectJoint(context, jointInputs));
    if (!selected) return undefined;
    const { name, output, tensor, consumers, axes, opConfig, stored } = selected;
    let bytesAfter = 0;
    const compressed = await compressor.compress(
      {
        name,
        functionName: context.functionName,
        tensor,
        consumers,
        outputChannelAxis: axes.output,
        inputChannelAxis: axes.input,
        specificationVersion: context.specificationVersion,
        ownsBuffer: selected.freshRead,
        value(t) {
          bytesAfter += byteLength(t.dtype, elementCount(t.shape));
          return context.value(t);
        },
        ...(selected.parameter && { joint: selected.parameter }),
      },
      opConfig,
      { pool: options.pool },
    );
    if (!compressed || compressed.ops.length === 0) return undefined;
    const last = compressed.ops[compressed.ops.length - 1];
    reports.push({
      order,
      report: {
        name,
        functionName: context.functionName,
        dtype: stored.dtype,
        shape: stored.shape,
        config: opConfig,
        bytesBefore: byteLength(stored.dtype, stored.count),
        bytesAfter,
        snrDb: compressed.snrDb,
        ...(compressed.float16Loss && { float16Loss: compressed.float16Loss }),
      },
    });
    const replacement = last.outputs[0].name;
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
      filter: (op) =>
        op.type === "const" || (jointInputs !== undefined && Object.hasOwn(jointInputs, op.type)),
    });
  } finally {
    if (model !== input) await model.close();
  }
  reports.sort((a, b) => a.order - b.order);
  return { model: result, weights: reports.map((r) => r.report) };
}
