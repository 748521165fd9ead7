/**
 * Input statistics of weights for data-aware compression: runs calibration samples through
 * the program and, for every weight a linear, matmul, conv or gather reads from a const,
 * sums the second moments of what it multiplies (XᵀX, or only its diagonal) in float64.
 * Nothing of the activations is kept: each op's inputs are read just before it runs, in chunks
 * of vectors, so memory holds the statistics (columns² per distinct input) and one chunk.
 *
 * What "X" is per consumer: linear — rows of x along its last axis; matmul with a const
 * operand — the other operand's vectors along the contracted axis; conv — the patches im2col
 * unfolds, one Gram matrix per group; gather — the one-hot rows of the indices (so only counts,
 * the diagonal).
 */
import type { Block, Operation } from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/model.js";
import { ConfigError, UnsupportedError } from "../errors.js";
import type { Tensor } from "../kernels/dtype.js";
import { accumulateGram, accumulateSquares, mirrorUpper } from "../kernels/gram.js";
import { convOutputSize, writePatch, type Window2d } from "../kernels/ops/conv.js";
import type { Calibration, InputStatistics } from "../passes/calibration.js";
import type { ProgressCallback } from "../progress.js";
import { inputNames, opName } from "../program/ops.js";
import { Interpreter, type LoadOptions } from "../runtime/interpreter.js";
import type { RuntimeValue } from "../runtime/value.js";
import type { OpContext } from "../runtime/kernel.js";
import { as2d, windowOf } from "../runtime/ops/linear-conv-norm.js";

export interface StatisticsOptions extends LoadOptions {
  /** Also the full Gram matrices (GPTQ needs them), not only their diagonals. */
  gram?: boolean;
  /** Called after each sample has run. */
  onProgress?: ProgressCallback;
  /** Only these weights' statistics (default: every weight calibration covers). */
  weights?: ReadonlySet<string>;
  /**
   * Start each sample's run at the first reader of `resume.activation`, from what an earlier
   * run on the same samples kept there (the model having changed only from there on).
   */
  resume?: RunCheckpoint;
  /** Keep, per sample, what a later run resumed at the first reader of `keep.activation` needs. */
  keep?: RunCheckpoint;
}

/** Per sample, the values a run resumed at the first reader of `activation` needs. */
export interface RunCheckpoint {
  activation: string;
  values: Map<string, RuntimeValue>[];
}

/** Vectors unfolded at a time: bounds the chunk buffer to columns × this many doubles. */
const CHUNK_VECTORS = 256;

/** Sums for one input as one kind of consumer sees it (several weights may share them). */
export class Accumulator {
  vectors = 0;
  readonly diagonal: Float64Array;
  readonly gram: Float64Array | undefined;

  constructor(
    readonly inputAxes: readonly number[],
    readonly groups: number,
    readonly columns: number,
    gram: boolean,
  ) {
    this.diagonal = new Float64Array(groups * columns);
    this.gram = gram ? new Float64Array(groups * columns * columns) : undefined;
  }

  /** Adds a chunk of `count` vectors of group `group`, given column-major. */
  add(group: number, byColumn: Float64Array, count: number): void {
    const { columns } = this;
    accumulateSquares(byColumn, columns, count, this.diagonal.subarray(group * columns));
    if (this.gram) {
      const size = columns * columns;
      accumulateGram(
        byColumn,
        columns,
        count,
        this.gram.subarray(group * size, (group + 1) * size),
      );
    }
    if (group === 0) this.vectors += count;
  }
}

/** How one consumer op turns its inputs into vectors for its weight's statistics. */
interface Consumer {
  weight: string;
  /** Identifies the input and the unfolding, so consumers of the same input share sums. */
  key(ctx: OpContext): string;
  accumulate(ctx: OpContext, statistics: (make: () => Accumulator) => Accumulator): void;
}

/** A consumer whose vectors run along one axis of an activation (linear, matmul). */
function alongAxis(
  weight: string,
  input: "x" | "y",
  activation: string,
  inputAxes: (ctx: OpContext) => number[] | undefined,
  featureAxis: (ctx: OpContext) => number,
  gram: boolean,
): Consumer {
  return {
    weight,
    key: (ctx) => `${activation}|axis ${featureAxis(ctx)}|${inputAxes(ctx)}`,
    accumulate(ctx, statistics) {
      const axes = inputAxes(ctx);
      if (!axes) return;
      const x = ctx.tensor(input);
      const rank = x.shape.length;
      const axis = featureAxis(ctx) < 0 ? featureAxis(ctx) + rank : featureAxis(ctx);
      const columns = x.shape[axis];
      const sums = statistics(() => new Accumulator(axes, 1, columns, gram));
      const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const vectors = x.data.length / columns;
      const chunk = new Float64Array(columns * Math.min(CHUNK_VECTORS, vectors));
      for (let first = 0; first < vectors; first += CHUNK_VECTORS) {
        const count = Math.min(CHUNK_VECTORS, vectors - first);
        for (let v = 0; v < count; v++) {
          const vector = first + v;
          const base = Math.floor(vector / inner) * columns * inner + (vector % inner);
          for (let c = 0; c < columns; c++) chunk[c * count + v] = x.data[base + c * inner];
        }
        sums.add(0, chunk, count);
      }
    },
  };
}

/** A conv's weight: im2col patches, per group, columns in the weight's (c, ky, kx) order. */
function convConsumer(weight: string, gram: boolean): Consumer {
  return {
    weight,
    key: (ctx) => `conv ${ctx.name}`,
    accumulate(ctx, statistics) {
      const input = ctx.tensor("x");
      const weightShape = ctx.tensor("weight").shape;
      const spatial = input.shape.length - 2;
      if (spatial !== 1 && spatial !== 2) return;
      const x = as2d(ctx, input);
      const kernel = as2d(ctx, ctx.tensor("weight")).shape;
      const [kh, kw] = [kernel[2], kernel[3]];
      const win = windowOf(ctx, x, [kh, kw], spatial);
      const groups = ctx.int("groups", 1);
      const columns = (x.shape[1] / groups) * kh * kw;
      const inputAxes = weightShape.map((_, axis) => axis).slice(1);
      const sums = statistics(() => new Accumulator(inputAxes, groups, columns, gram));
      addPatches(sums, x, win, groups);
    },
  };
}

/**
 * Adds the im2col patches of `x` ([n, c, h, w]) to `sums`, per group, each patch's columns in
 * the weight's (c, ky, kx) order (positions in the padding are zeros).
 */
export function addPatches(
  sums: Pick<Accumulator, "add">,
  x: { readonly shape: readonly number[]; readonly data: ArrayLike<number> },
  window: Window2d,
  groups: number,
): void {
  const { kernel, strides, dilations, pads } = window;
  const [kh, kw] = kernel;
  const [n, channels, h, w] = x.shape;
  const perGroup = channels / groups;
  const [pt, pb, pl, pr] = pads;
  const oh = convOutputSize(h, kh, strides[0], dilations[0], pt, pb);
  const ow = convOutputSize(w, kw, strides[1], dilations[1], pl, pr);
  const columns = perGroup * kh * kw;
  const positions = n * oh * ow;
  const chunk = new Float64Array(columns * Math.min(CHUNK_VECTORS, positions));
  for (let g = 0; g < groups; g++) {
    for (let first = 0; first < positions; first += CHUNK_VECTORS) {
      const count = Math.min(CHUNK_VECTORS, positions - first);
      chunk.fill(0, 0, columns * count);
      for (let v = 0; v < count; v++) {
        const p = first + v;
        const image = Math.floor(p / (oh * ow));
        const planes = (image * channels + g * perGroup) * h * w;
        const [oy, ox] = [Math.floor(p / ow) % oh, p % ow];
        writePatch(chunk, v, count, x.data, planes, perGroup, [h, w], window, oy, ox);
      }
      sums.add(g, chunk, count);
    }
  }
}

/** A gather's table: how often each entry along the gathered axis is read. */
function gatherConsumer(weight: string): Consumer {
  return {
    weight,
    key: (ctx) => `gather ${inputNames(ctx.op, "indices")[0]}|${ctx.int("axis", 0)}`,
    accumulate(ctx, statistics) {
      const table = ctx.tensor("x");
      const rank = table.shape.length;
      const axis = ctx.int("axis", 0) < 0 ? ctx.int("axis", 0) + rank : ctx.int("axis", 0);
      const entries = table.shape[axis];
      const sums = statistics(() => new Accumulator([axis], 1, entries, false));
      const indices = ctx.tensor("indices").data;
      for (const raw of indices) {
        const index = raw < 0 ? raw + entries : raw;
        if (index >= 0 && index < entries) sums.diagonal[index] += 1;
      }
      sums.vectors += indices.length;
    },
  };
}

/** The rank-2 const operand of a matmul, its axes of inputs, and the other operand's axis. */
function matmulConsumer(
  op: Operation,
  constName: (name: string) => string | undefined,
  gram: boolean,
): Consumer | undefined {
  const [x] = inputNames(op, "x");
  const [y] = inputNames(op, "y");
  const rank2 = (ctx: OpContext, input: string) => ctx.tensor(input).shape.length === 2;
  const weightY = y !== undefined ? constName(y) : undefined;
  if (weightY !== undefined && x !== undefined && constName(x) === undefined) {
    // x · W: W's input axis is the one contracted (0, or 1 when transposed).
    return alongAxis(
      weightY,
      "x",
      x,
      (ctx) => (rank2(ctx, "y") ? [ctx.bool("transpose_y", false) ? 1 : 0] : undefined),
      (ctx) => (ctx.bool("transpose_x", false) ? -2 : -1),
      gram,
    );
  }
  const weightX = x !== undefined ? constName(x) : undefined;
  if (weightX !== undefined && y !== undefined && constName(y) === undefined) {
    return alongAxis(
      weightX,
      "y",
      y,
      (ctx) => (rank2(ctx, "x") ? [ctx.bool("transpose_x", false) ? 0 : 1] : undefined),
      (ctx) => (ctx.bool("transpose_y", false) ? -1 : -2),
      gram,
    );
  }
  return undefined;
}

/** The consumers of const weights among a block's ops, by op. */
function findConsumers(operations: readonly Operation[], gram: boolean): Map<Operation, Consumer> {
  const consts = new Map<string, string>();
  for (const op of operations) if (op.type === "const") consts.set(op.outputs[0].name, opName(op));
  const constName = (name: string) => consts.get(name);
  const consumers = new Map<Operation, Consumer>();
  for (const op of operations) {
    const read = (input: string) => inputNames(op, input)[0];
    const weightOf = (input: string) =>
      read(input) === undefined ? undefined : constName(read(input)!);
    let consumer: Consumer | undefined;
    if (op.type === "linear" && weightOf("weight") && read("x") && !weightOf("x")) {
      consumer = alongAxis(
        weightOf("weight")!,
        "x",
        read("x")!,
        () => [1],
        () => -1,
        gram,
      );
    } else if (op.type === "matmul") {
      consumer = matmulConsumer(op, constName, gram);
    } else if (op.type === "conv" && weightOf("weight") && read("x") && !weightOf("x")) {
      consumer = convConsumer(weightOf("weight")!, gram);
    } else if (op.type === "gather" && weightOf("x") && read("indices") && !weightOf("indices")) {
      consumer = gatherConsumer(weightOf("x")!);
    }
    if (consumer) consumers.set(op, consumer);
  }
  return consumers;
}

/** Statistics of one function's weights, as the data-aware compressions look them up. */
export class InputStatisticsTable implements Calibration {
  constructor(
    readonly functionName: string,
    readonly weights: ReadonlyMap<string, InputStatistics>,
    /** Samples the statistics were gathered over. */
    readonly samples: number,
  ) {}

  statistics(functionName: string, weight: string): InputStatistics | undefined {
    return functionName === this.functionName ? this.weights.get(weight) : undefined;
  }
}

/** The function calibration runs (`functionName`, else the default one) and its block. */
export function calibratedFunction(
  model: MLModel,
  functionName: string | undefined,
): { functionName: string; block: Block } {
  const spec = model.spec;
  if (spec.Type.case !== "mlProgram") {
    throw new UnsupportedError(
      `calibration runs ML programs (this model is a ${spec.Type.case ?? "empty model"})`,
    );
  }
  const name = functionName ?? (spec.description?.defaultFunctionName || "main");
  const fn = spec.Type.value.functions[name];
  const block = fn?.blockSpecializations[fn.opset];
  if (!fn || !block) throw new ConfigError(`the program has no function "${name}"`);
  return { functionName: name, block };
}

/** Runs `samples` through the model and sums its weights' input statistics. */
export async function collectInputStatistics(
  model: MLModel,
  samples: readonly Record<string, Tensor>[],
  options: StatisticsOptions = {},
): Promise<InputStatisticsTable> {
  if (samples.length === 0) throw new ConfigError("calibration needs at least one sample");
  const { functionName, block } = calibratedFunction(model, options.functionName);
  const interpreter = await Interpreter.load(model, options);
  const consumers = findConsumers(block.operations, options.gram ?? false);
  const wanted = options.weights;
  if (wanted) for (const [op, c] of consumers) if (!wanted.has(c.weight)) consumers.delete(op);

  const accumulators = new Map<string, Accumulator>();
  const keysOfWeight = new Map<string, Set<string>>();
  const inspect = (ctx: OpContext) => {
    const consumer = consumers.get(ctx.op);
    if (!consumer) return;
    const key = consumer.key(ctx);
    const keys = keysOfWeight.get(consumer.weight) ?? new Set<string>();
    keysOfWeight.set(consumer.weight, keys);
    keys.add(key);
    // Consumers of a shared input (q, k and v projections) sum it once per sample.
    if (seenThisSample.has(key)) return;
    seenThisSample.add(key);
    consumer.accumulate(ctx, (make) => {
      let sums = accumulators.get(key);
      if (!sums) accumulators.set(key, (sums = make()));
      return sums;
    });
  };
  const seenThisSample = new Set<string>();
  // States change as a run goes: a stateful program runs whole every time.
  const { resume, keep } = interpreter.states.length === 0 ? options : {};
  const resumeStep = resume && interpreter.firstReader(resume.activation);
  const keepStep = keep && interpreter.firstReader(keep.activation);
  // Kept values are carried from resumed ones only when the keeping point comes later.
  const keeping = keepStep !== undefined && keepStep >= (resumeStep ?? 0);
  if (keep) keep.values.length = 0;
  samples.forEach((sample, index) => {
    seenThisSample.clear();
    const values = new Map<string, RuntimeValue>();
    const resumed = resumeStep !== undefined && resume!.values[index];
    interpreter.predict(sample, {
      inspect,
      ...(resumed && { resume: { step: resumeStep, values: resumed } }),
      ...(keeping && { checkpoint: { step: keepStep, values } }),
    });
    if (keeping) keep!.values.push(values);
    options.onProgress?.({
      done: index + 1,
      total: samples.length,
      name: index + 1 < samples.length ? `sample ${index + 2}` : "",
    });
  });
  for (const sums of accumulators.values()) {
    if (!sums.gram) continue;
    const size = sums.columns * sums.columns;
    for (let g = 0; g < sums.groups; g++)
      mirrorUpper(sums.gram.subarray(g * size, (g + 1) * size), sums.columns);
  }
  const weights = new Map<string, InputStatistics>();
  for (const [weight, keys] of keysOfWeight) {
    const combined = combine(
      [...keys].map((key) => accumulators.get(key)).filter((s) => s !== undefined),
    );
    if (combined) weights.set(weight, combined);
  }
  return new InputStatisticsTable(functionName, weights, samples.length);
}

/** The weights calibration covers, each with the first op that reads it, in program order. */
export function calibratedWeights(
  operations: readonly Operation[],
): { weight: string; reader: Operation }[] {
  const seen = new Set<string>();
  const found: { weight: string; reader: Operation }[] = [];
  for (const [reader, { weight }] of findConsumers(operations, false)) {
    if (!seen.has(weight)) found.push({ weight, reader });
    seen.add(weight);
  }
  return found;
}

/** One weight's statistics over all its consumers; undefined when they see it differently. */
export function combine(parts: Accumulator[]): InputStatistics | undefined {
  const [first] = parts;
  if (!first) return undefined;
  const same = parts.every(
    (p) =>
      p.columns === first.columns &&
      p.groups === first.groups &&
      p.inputAxes.join() === first.inputAxes.join() &&
      (p.gram === undefined) === (first.gram === undefined),
  );
  if (!same) return undefined;
  const statistics: InputStatistics = {
    inputAxes: first.inputAxes,
    groups: first.groups,
    columns: first.columns,
    vectors: 0,
    diagonal: new Float64Array(first.diagonal.length),
    ...(first.gram && { gram: new Float64Array(first.gram.length) }),
  };
  for (const part of parts) {
    statistics.vectors += part.vectors;
    for (let i = 0; i < part.diagonal.length; i++) statistics.diagonal[i] += part.diagonal[i];
    if (part.gram) for (let i = 0; i < part.gram.length; i++) statistics.gram![i] += part.gram[i];
  }
  return statistics;
}
