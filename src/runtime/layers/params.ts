/**
 * What every neural-network layer compiler shares: the compiled form of a layer, and readers of
 * layer parameters (numbers, weights, border amounts, axes counted from the end).
 */
import { FormatError, UnsupportedError } from "../../errors.js";
import type {
  BorderAmounts,
  NeuralNetwork,
  NeuralNetworkLayer,
  WeightParams,
} from "../../format/gen/NeuralNetwork_pb.js";
import type { Dense } from "../../kernels/ops/elementwise.js";
import type { Gemm } from "../../kernels/ops/matmul.js";
import { dequantizeWeightParams } from "../../neural/dequantize.js";
import { fieldLayout } from "../../neural/weights.js";

/** What ends a loop iteration early: a loopBreak or loopContinue layer. */
export type LoopSignal = "break" | "continue";

/** One layer ready to run: the blobs it reads and writes, and its function. */
export interface Step {
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Its inputs and what the networks nested in it read. */
  readonly reads: ReadonlySet<string>;
  readonly run: LayerFunction;
  /** Blobs no later step (nor an output) reads once this one has run. */
  readonly release: string[];
}

/** A network compiled to run over a scope of blobs (nested ones share their parent's). */
export interface CompiledNetwork {
  readonly steps: readonly Step[];
  /** Every blob name its layers read, nested ones included. */
  readonly reads: ReadonlySet<string>;
}

/** What a running layer may ask of the interpreter. */
export interface RunContext {
  /** The matrix product to use (single-thread, or shared out across worker threads). */
  readonly multiply: Gemm;
  /** Runs a nested network over the current blobs; the loop signal it ended with, if any. */
  run(network: CompiledNetwork): LoopSignal | undefined;
  /** A blob by name (a loop's condition). */
  blob(name: string): Dense;
}

/**
 * A layer ready to run: input blobs in; its output blob, blobs (several outputs), or a loop
 * signal out. Control-flow layers return [] when they have no outputs.
 */
export type LayerFunction = (inputs: Dense[], run: RunContext) => Dense | Dense[] | LoopSignal;

/** What a layer compiler may ask of the interpreter: compiling the networks nested in it. */
export interface CompileContext {
  nested(network: NeuralNetwork): CompiledNetwork;
}

/** Reads a layer's parameters (weights now) and returns the function that runs it. */
export type LayerCompiler = (layer: NeuralNetworkLayer, compile: CompileContext) => LayerFunction;

export const num = (v: bigint | number) => Number(v);

/** An UnsupportedError naming the layer. */
export function unsupported(layer: NeuralNetworkLayer, problem: string): UnsupportedError {
  return new UnsupportedError(`layer "${layer.name}": ${problem}`);
}

/** A layer type: a case of the layer oneof. */
export type LayerType = NonNullable<NeuralNetworkLayer["layer"]["case"]>;

type ParamsOf<T extends LayerType> = Extract<NeuralNetworkLayer["layer"], { case: T }>["value"];

/** The parameters of `layer` when it is of type `type` (the table guarantees it). */
export function paramsOf<T extends LayerType>(layer: NeuralNetworkLayer, type: T): ParamsOf<T> {
  if (layer.layer.case !== type) throw new Error(`layer "${layer.name}" is not ${type}`);
  return layer.layer.value as unknown as ParamsOf<T>;
}

/**
 * The values of a layer's weight field as float32 (dequantized when stored quantized); with
 * `count`, checked to hold that many.
 */
export function weightValues(
  layer: NeuralNetworkLayer,
  field: string,
  params?: WeightParams,
  count?: number,
): Float32Array {
  const where = `layer "${layer.name}"`;
  if (!params) throw new FormatError(where, `has no ${field}`);
  const values = dequantizeWeightParams(params, fieldLayout(layer, field), `${where} ${field}`);
  if (count !== undefined && values.length !== count) {
    throw new FormatError(
      where,
      `${field} holds ${values.length} values, its shape needs ${count}`,
    );
  }
  return values;
}

/** Before/after padding of H and W from explicit border amounts. */
export function borderPads(amounts: BorderAmounts | undefined): [number, number, number, number] {
  const edges = amounts?.borderAmounts ?? [];
  const at = (axis: number): [number, number] => [
    num(edges[axis]?.startEdgeSize ?? 0),
    num(edges[axis]?.endEdgeSize ?? 0),
  ];
  return [...at(0), ...at(1)];
}

export function pair(values: bigint[], fallback: number): [number, number] {
  return values.length >= 2 ? [num(values[0]), num(values[1])] : [fallback, fallback];
}

/** A pair of window sizes (kernel, stride, dilation, scale): each at least 1, else a FormatError. */
export function sizePair(
  layer: NeuralNetworkLayer,
  field: string,
  values: bigint[],
  fallback: number,
): [number, number] {
  const sizes = pair(values, fallback);
  if (sizes.some((v) => !(v >= 1))) {
    throw new FormatError(
      `layer "${layer.name}"`,
      `${field} [${sizes.join(", ")}] must be at least 1`,
    );
  }
  return sizes;
}

/**
 * A blob seen as [batch, C, H, W]: its last three axes ("channel", "height", "width" in the
 * specification, missing ones of size 1) and the product of the axes before them.
 */
export function channelView(x: Dense): [number, number, number, number] {
  const s = x.shape;
  const r = s.length;
  const [c, h, w] = [s[r - 3] ?? 1, s[r - 2] ?? 1, s[r - 1] ?? 1];
  return [x.data.length / (c * h * w) || 0, c, h, w];
}

/** `x` with its last three axes replaced by [c, h, w] (rank kept, at least 3). */
export function withChannels(x: Dense, chw: readonly number[], data: Float32Array): Dense {
  const lead = x.shape.length > 3 ? x.shape.slice(0, -3) : [];
  return { shape: [...lead, ...chw], data };
}

/** An axis counted from the end when negative, refused (naming the layer) when outside. */
export function axisOf(layer: NeuralNetworkLayer, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) {
    throw unsupported(layer, `axis ${axis} of a rank ${rank} blob`);
  }
  return a;
}

/**
 * Integer values of a small blob (shapes, indices, counts), rounded: constants quantized to
 * 8 bits may hold them slightly off.
 */
export function intsOf(x: Dense): number[] {
  return Array.from(x.data, (v) => Math.round(v));
}

/** An index blob with its values rounded to integers (see intsOf). */
export function indicesOf(x: Dense): Dense {
  return { shape: x.shape, data: Float32Array.from(x.data, (v) => Math.round(v)) };
}
