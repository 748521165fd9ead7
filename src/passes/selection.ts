/**
 * Which weights a compression gets, and why the others are left alone. Candidate rules, as
 * coremltools applies them: a const of fp16/fp32/int8/uint8 with at least 10 elements (what it
 * stores in the weight file); its config comes from its own name or its consumers (conflicting
 * consumer configs are an error, even for small weights); it is left alone when its config is
 * null, it feeds a constexpr op, it has rank ≤ 1, it has no more elements than the config's
 * `weightThreshold`, it is not a float tensor, or it holds an infinity. Compressed weights
 * (constexpr ops) are left alone unless joint compression takes their parameters.
 */
import type { Operation } from "../format/gen/MIL_pb.js";
import { elementCount, type ElementType, type Tensor } from "../kernels/dtype.js";
import { hasInfinity } from "../kernels/values.js";
import {
  configForWeight,
  type OpConfig,
  type OptimizationConfig,
} from "../config/optimization-config.js";
import { channelAxes, type ChannelAxes } from "../program/channel-axes.js";
import { isConstexprOp } from "../program/constexpr.js";
import { constValue, opName } from "../program/ops.js";
import type { RewriteContext } from "../program/rewriter.js";
import { supports } from "../program/targets.js";
import { tensorTypeInfo } from "../program/types.js";
import {
  jointCandidate,
  readJointCandidate,
  type JointInputs,
  type JointParameter,
} from "./joint.js";

/** Element types of consts coremltools considers (those it keeps in the weight file). */
const CANDIDATE_TYPES = new Set<ElementType>(["fp16", "fp32", "int8", "uint8"]);
const MINIMUM_ELEMENTS = 10;

/** A weight chosen for compression, before the compression sees it. */
export interface Selection<C extends OpConfig> {
  name: string;
  /** The output whose uses the compressed weight takes over. */
  output: string;
  tensor: Tensor;
  consumers: Operation[];
  axes: ChannelAxes;
  opConfig: C;
  /** What is stored now, for reports. */
  stored: { dtype: ElementType; shape: number[]; count: number };
  parameter?: JointParameter;
  /** The tensor was just read from a weight-file blob (or built) and nothing else holds it. */
  freshRead: boolean;
}

/** A weight left alone, with the reason in words a user can act on. */
export interface Skip {
  name: string;
  skipped: string;
  /** The config that applied, when one did. */
  config?: OpConfig;
}

/** What the walk makes of one op: a weight to compress, a weight left alone, or neither. */
export type Choice<C extends OpConfig> = Selection<C> | Skip | undefined;

function ownsBuffer(tensor: Tensor): boolean {
  const data = tensor.data as ArrayBufferView;
  return data.buffer instanceof ArrayBuffer && data.byteLength === data.buffer.byteLength;
}

/** The reason a weight of this size and type is left alone under `config`, if any. */
function sizeRule(
  shape: readonly number[],
  count: number,
  dtype: ElementType,
  config: OpConfig,
): string | undefined {
  if (shape.length <= 1) return `rank ${shape.length}: vectors (biases, scales) are not compressed`;
  if (count <= config.weightThreshold) {
    return `${count} elements, not more than weight_threshold ${config.weightThreshold}`;
  }
  if (dtype !== "fp16" && dtype !== "fp32") return `${dtype}: only float weights are compressed`;
  return undefined;
}

/** The const weight `op` holds, if coremltools would compress it. */
async function selectConst<C extends OpConfig>(
  context: RewriteContext,
  config: OptimizationConfig<C>,
): Promise<Choice<C>> {
  const { op, graph } = context;
  const val = constValue(op);
  const info = tensorTypeInfo(val?.type);
  if (!val || !info || !CANDIDATE_TYPES.has(info.dtype)) return undefined;
  if (info.shape.some((d) => d === null)) return undefined;
  const shape = info.shape as number[];
  const count = elementCount(shape);
  if (count < MINIMUM_ELEMENTS || !supports(context.specificationVersion, "iOS16")) {
    return undefined;
  }
  const name = opName(op);
  const output = op.outputs[0].name;
  const consumers = graph.consumers(output);
  const opConfig = configForWeight(config, op, consumers);
  // A compressed weight's parameters: the compressed weight is reported, not its parts.
  if (consumers.some((c) => isConstexprOp(c.type))) return undefined;
  if (opConfig === null) return { name, skipped: "excluded by the config (null)" };
  const rule = sizeRule(shape, count, info.dtype, opConfig);
  if (rule) return { name, skipped: rule, config: opConfig };

  const tensor = await context.read(val);
  if (hasInfinity(tensor)) return { name, skipped: "holds an infinity", config: opConfig };
  const axes = channelAxes(consumers, output, shape.length, graph);
  const stored = { dtype: info.dtype, shape, count };
  const freshRead = val.value.case === "blobFileValue" && ownsBuffer(tensor);
  return { name, output, tensor, consumers, axes, opConfig, stored, freshRead };
}

/**
 * Joint: the parameter of a compressed op `op` holds, with the checks coremltools makes of it
 * (the parameter's own size, the dense weight's size against the threshold).
 */
async function selectJoint<C extends OpConfig>(
  context: RewriteContext,
  config: OptimizationConfig<C>,
  inputs: JointInputs,
): Promise<Choice<C>> {
  const { op, graph } = context;
  const candidate = jointCandidate(op, inputs);
  if (!candidate || !CANDIDATE_TYPES.has(candidate.stored.dtype)) return undefined;
  if (candidate.stored.count < MINIMUM_ELEMENTS) return undefined;
  const { name } = candidate;
  const output = candidate.output.name;
  const consumers = graph.consumers(output);
  const opConfig = Object.prototype.hasOwnProperty.call(config.opNameConfigs ?? {}, name)
    ? config.opNameConfigs![name]
    : configForWeight(config, op, consumers);
  if (opConfig === null) return { name, skipped: "excluded by the config (null)" };
  const compressed = consumers.find((c) => isConstexprOp(c.type));
  if (compressed) {
    return { name, skipped: `already compressed: a parameter of ${compressed.type}` };
  }
  const outputShape = tensorTypeInfo(op.outputs.at(-1)?.type)!.shape as number[];
  const rule = sizeRule(outputShape, candidate.output.count, candidate.stored.dtype, opConfig);
  if (rule) return { name, skipped: rule, config: opConfig };

  const read = await readJointCandidate(context, candidate);
  if (!read) return { name, skipped: `${op.type} has no mask to read`, config: opConfig };
  if (hasInfinity(read.tensor)) return { name, skipped: "holds an infinity", config: opConfig };
  const axes = channelAxes(consumers, output, candidate.output.rank, graph);
  const { dtype, count } = candidate.stored;
  const stored = { dtype, shape: tensorTypeInfo(candidate.value.type)!.shape as number[], count };
  return {
    name,
    output,
    consumers,
    axes,
    opConfig,
    stored,
    // A sparse parameter's dense weight was just built for this visit: workers may take it.
    freshRead: read.parameter.mask !== undefined,
    ...read,
  };
}

/**
 * A compressed weight (the last constexpr op of a chain) that this pass leaves as it is: said
 * so, with how joint compression would take it when the pass can.
 */
function compressedWeight(op: Operation, jointInputs: JointInputs | undefined): Skip {
  const joinable = jointInputs && Object.hasOwn(jointInputs, op.type);
  return {
    name: opName(op),
    skipped:
      `already compressed (${op.type})` +
      (joinable ? "; --joint (joint_compression) compresses it further" : ""),
  };
}

/** Whether the walk visits `op`: consts, and compressed weights (to take or to report). */
export function visitsOp(op: Operation): boolean {
  return op.type === "const" || isConstexprOp(op.type);
}

/** Compressed weights are visited even when their parameters are consts bound by name. */
export const visitsWithoutLiterals = (op: Operation): boolean => isConstexprOp(op.type);

/**
 * What to do with the op `context` visits: compress it (a selection), leave it alone for a
 * reason, or nothing (not a weight). `joint` holds the parameters joint compression takes.
 */
export async function chooseWeight<C extends OpConfig>(
  context: RewriteContext,
  config: OptimizationConfig<C>,
  joint: { active: boolean; inputs: JointInputs | undefined },
): Promise<Choice<C>> {
  const { op, graph } = context;
  if (op.type === "const") return selectConst(context, config);
  if (joint.active && joint.inputs && Object.hasOwn(joint.inputs, op.type)) {
    return selectJoint(context, config, joint.inputs);
  }
  // Only the last op of a chain is a weight; the ops before it are its parameters.
  const output = op.outputs.at(-1)?.name;
  if (output === undefined || graph.consumers(output).some((c) => isConstexprOp(c.type))) {
    return undefined;
  }
  return compressedWeight(op, joint.inputs);
}
