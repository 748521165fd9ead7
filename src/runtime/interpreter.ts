/**
 * Runs the main function of an ML program on the CPU. Loading checks that every op (nested
 * blocks included) is supported and reads every constant once, materializing compressed
 * `constexpr_*` weights densely; each prediction then runs the remaining ops in order, in
 * float32, rounding each op's outputs to the element type the program declares (so fp16
 * programs see fp16 activations, as on device).
 */
import type { Block, Operation, Value } from "../format/gen/MIL_pb.js";
import type { Model } from "../format/gen/Model_pb.js";
import type { MLModel } from "../format/model.js";
import {
  ConfigError,
  CoreMLOptimizeError,
  FormatError,
  ModelRunError,
  UnsupportedError,
} from "../errors.js";
import { ELEMENT_TYPES, type ElementType, type Tensor } from "../kernels/dtype.js";
import { opName } from "../program/ops.js";
import { walkOperations } from "../program/walk.js";
import { tensorTypeInfo, type Dim } from "../program/types.js";
import { readTensorValue } from "../program/values.js";
import { validateProgram } from "../program/validate.js";
import {
  CONSTEXPR_OPS,
  evaluateConstexpr,
  isConstexprOp,
  parameterBindings,
} from "../program/constexpr.js";
import { gemm, type Gemm } from "../kernels/ops/matmul.js";
import type { TaskPool } from "../parallel/task-pool.js";
import { parallelGemm } from "./parallel-gemm.js";
import { OpContext, type Clamp, type DeclaredOutput, type OpKernel } from "./kernel.js";
import { kernelFor } from "./registry.js";
import { ProgramState } from "./state.js";
import { HeapFullError } from "../kernels/simd/heap.js";
import { SimdRuntime } from "./simd.js";
import {
  fromTensor,
  isNumeric,
  roundInPlace,
  toTensor,
  type NumericValue,
  type RuntimeValue,
} from "./value.js";

export interface ProgramIO {
  name: string;
  dtype: ElementType;
  /** null for dimensions the program leaves open. */
  shape: Dim[];
  /** An image input: pixel values, 0–255 per channel. */
  image?: boolean;
  /** Values index a table of this many rows (an embedding's input): whole numbers below it. */
  indexRange?: number;
}

interface Step {
  op: Operation;
  name: string;
  outputs: DeclaredOutput[];
  run: OpKernel;
  /** Values no later step (nor the outputs) needs once this step has run. */
  release: string[];
  /** The op's nested blocks (loop bodies, branches). */
  blocks: PreparedBlock[];
  /** What the op's kernel keeps between predictions (e.g. tables for the input's shape). */
  cache: Map<string, unknown>;
  /**
   * Inputs bound to constants only (weights, parameters), resolved once (null: an input that
   * is not): looking them up again costs more than a small op's job.
   */
  constantInputs: Map<string, RuntimeValue[] | null>;
  /**
   * The ops done in the same pass as this one (when no observer needs the values in between):
   * an activation that is a clamp, alone reading this op's output (or the add below's); an
   * add alone reading it, with `residual` its other operand. `into`, the last of `steps`,
   * holds the result.
   */
  fused?: { clamp?: Clamp; residual?: string; steps: Step[]; into: Step };
  /** Done by a step before, unless an observer runs. */
  absorbed?: boolean;
}

interface PreparedBlock {
  inputs: string[];
  outputs: string[];
  steps: Step[];
}

/** Values visible while a block runs: its own, then its enclosing blocks'. */
class Scope {
  readonly values = new Map<string, RuntimeValue>();
  constructor(private readonly parent?: Scope) {}

  get(name: string): RuntimeValue | undefined {
    return this.values.get(name) ?? this.parent?.get(name);
  }
}

/** The main (or named) function of a model's ML program, with its constants loaded. */
export class Interpreter {
  private constructor(
    readonly inputs: readonly ProgramIO[],
    readonly outputs: readonly ProgramIO[],
    private readonly constants: Map<string, RuntimeValue>,
    private readonly literals: Map<Value, RuntimeValue>,
    private readonly steps: Step[],
    private readonly gemm: Gemm,
    private readonly simd: SimdRuntime | undefined,
    /** State inputs (iOS18), kept across predictions by a ProgramState. */
    readonly states: readonly ProgramIO[] = [],
  ) {}

  /** States for a sequence of predictions: zero unless `initial` gives them. */
  newState(initial: Readonly<Record<string, Tensor>> = {}): ProgramState {
    return new ProgramState(this.states, initial);
  }

  /** Set once the SIMD heap could not grow: the plain kernels run from then on. */
  private heapFull = false;
  /** liveAt's answers, by step. */
  private readonly liveSets = new Map<number, Set<string>>();

  /** Prepares a model's program; fails (before running anything) on ops it cannot run. */
  static async load(model: MLModel, options: LoadOptions = {}): Promise<Interpreter> {
    await validateProgram(model);
    const spec = programSpec(model.spec, options.pipelineStage);
    if (spec.Type.case !== "mlProgram") throw new Error("programSpec returned a non-program");
    const program = spec.Type.value;
    const name = options.functionName ?? (spec.description?.defaultFunctionName || "main");
    const fn = program.functions[name];
    if (!fn) throw new ConfigError(`the program has no function "${name}"`);
    const block = fn.blockSpecializations[fn.opset] ?? Object.values(fn.blockSpecializations)[0];
    if (!block) throw new FormatError(`function ${name}`, "has no block");
    checkSupported(block);

    const constants = new Map<string, RuntimeValue>();
    const literals = new Map<Value, RuntimeValue>();
    // Constants that constexpr ops read, in their stored types.
    const constexprInputs = constexprParameterNames(block);
    const stored = new Map<string, Tensor>();
    const prepare = async (current: Block): Promise<PreparedBlock> => {
      const steps: Step[] = [];
      for (const op of current.operations) {
        const label = `op ${op.type} "${opName(op)}"`;
        if (op.type === "const") {
          const value = op.attributes["val"];
          if (!value) throw new FormatError(label, "const op has no value");
          const tensor = await readTensorValue(value, model, label);
          constants.set(op.outputs[0].name, fromTensor(tensor));
          if (constexprInputs.has(op.outputs[0].name)) stored.set(op.outputs[0].name, tensor);
          continue;
        }
        if (isConstexprOp(op.type)) {
          const parameters: Record<string, Tensor> = {};
          for (const [key, binding] of parameterBindings(op)) {
            if (typeof binding !== "string") {
              parameters[key] = await readTensorValue(binding, model, label);
              continue;
            }
            const tensor = stored.get(binding);
            if (!tensor) throw new UnsupportedError(`${label}: parameter ${key} is not a constant`);
            parameters[key] = tensor;
          }
          const results = evaluateConstexpr(op.type, parameters, label);
          op.outputs.forEach((output, i) => {
            constants.set(output.name, fromTensor(results[i]));
            if (constexprInputs.has(output.name)) stored.set(output.name, results[i]);
          });
          continue;
        }
        for (const argument of Object.values(op.inputs)) {
          for (const binding of argument.arguments) {
            if (binding.binding.case === "value") {
              const literal = binding.binding.value;
              literals.set(literal, await readLiteral(literal, model, label));
            }
          }
        }
        const blocks: PreparedBlock[] = [];
        for (const nested of op.blocks) blocks.push(await prepare(nested));
        steps.push({
          op,
          name: opName(op),
          outputs: op.outputs.map((o) => {
            const info = tensorTypeInfo(o.type);
            return { dtype: info?.dtype, shape: info?.shape };
          }),
          run: kernelFor(op.type)!,
          release: [],
          blocks,
          cache: new Map(),
          constantInputs: new Map(),
        });
      }
      return { inputs: current.inputs.map((i) => i.name), outputs: current.outputs, steps };
    };
    const root = await prepare(block);
    const steps = root.steps;
    planReleases(steps, block, constants);
    planFusions(steps, block, constants, literals);
    const io = (name: string, type: Parameters<typeof tensorTypeInfo>[0]): ProgramIO => {
      // Dictionary outputs (classifier probabilities) are returned as the probability vector.
      if (type?.type.case === "dictionaryType") return { name, dtype: "fp32", shape: [null] };
      const info = tensorTypeInfo(type);
      if (!info) throw new UnsupportedError(`program value "${name}" is not a tensor`);
      return { name, dtype: info.dtype, shape: info.shape };
    };
    const images = new Set(
      spec.description?.input.filter((f) => f.type?.Type.case === "imageType").map((f) => f.name),
    );
    const isState = (i: (typeof fn.inputs)[number]) => i.type?.type.case === "stateType";
    const inputs = fn.inputs
      .filter((i) => !isState(i))
      .map((i) => ({
        ...io(i.name, i.type),
        ...(images.has(i.name) && { image: true }),
      }));
    const states = fn.inputs.filter(isState).map((i) => {
      const wrapped = i.type?.type.case === "stateType" ? i.type.type.value.wrappedType : undefined;
      return io(i.name, wrapped);
    });
    const declared = new Map<string, Parameters<typeof tensorTypeInfo>[0]>();
    for (const i of fn.inputs) declared.set(i.name, i.type);
    for (const op of block.operations) for (const o of op.outputs) declared.set(o.name, o.type);
    const outputs = block.outputs.map((o) => io(o, declared.get(o)));
    const multiply = options.pool ? parallelGemm(options.pool) : gemm;
    const simd = options.reference ? undefined : SimdRuntime.create(constants, options.pool);
    return new Interpreter(inputs, outputs, constants, literals, steps, multiply, simd, states);
  }

  /**
   * Runs the program on one set of inputs; float outputs come back as fp32 tensors. An
   * `observe` callback sees every numeric value an op produces (nested blocks included) as it
   * is produced, so callers can gather statistics without keeping activations alive.
   */
  predict(inputs: Record<string, Tensor>, options: PredictOptions = {}): Record<string, Tensor> {
    const scope = new Scope();
    for (const input of this.inputs) {
      const given = inputs[input.name];
      if (!given) throw new ConfigError(`missing input "${input.name}"`);
      scope.values.set(input.name, this.convertInput(input, given));
    }
    // Replaced constants shadow the loaded ones: the scope is searched first.
    for (const [name, value] of options.replace ?? []) {
      if (!this.constants.has(name)) throw new ConfigError(`the program has no constant "${name}"`);
      scope.values.set(name, value);
    }
    for (const [name, value] of options.resume?.values ?? []) scope.values.set(name, value);
    const checkpoint = options.checkpoint && {
      live: this.liveAt(options.checkpoint.step),
      values: options.checkpoint.values,
    };
    for (const [name, value] of options.resume?.values ?? []) {
      if (checkpoint?.live.has(name)) checkpoint.values.set(name, value);
    }
    // Without a state given, a stateful program runs from zero states, updated and dropped.
    const state = options.state ?? (this.states.length > 0 ? this.newState() : undefined);
    if (state && state.declared !== this.states) {
      throw new ConfigError("the state was made for another function or model (use newState())");
    }
    for (const [name, value] of state?.values ?? []) scope.values.set(name, value);
    try {
      this.runSteps(
        this.steps.slice(options.resume?.step ?? 0),
        scope,
        options,
        this.simd,
        checkpoint,
      );
      const result: Record<string, Tensor> = {};
      for (const output of this.outputs) {
        const value = this.lookup(scope, output.name);
        const kind = ELEMENT_TYPES[output.dtype].kind;
        result[output.name] = toTensor(value, kind === "float" ? "fp32" : output.dtype);
      }
      return result;
    } finally {
      this.simd?.endPrediction();
    }
  }

  /** A constant as loaded (compressed weights materialized densely), by value name. */
  constant(name: string): RuntimeValue | undefined {
    return this.constants.get(name);
  }

  /**
   * The index of the first top-level step that reads `name` (in its nested blocks too), where a
   * prediction with `resume` may start when only that value changed; undefined if none reads it.
   */
  firstReader(name: string): number | undefined {
    const index = this.steps.findIndex((step) => namesRead(step.op).includes(name));
    if (index < 0) return undefined;
    // A step folded into one before it starts with that one.
    let first = index;
    while (this.steps[first].absorbed) first--;
    return first;
  }

  /**
   * The values a prediction resumed at top-level step `step` needs from the steps before it:
   * those they define that a later step or the outputs read (inputs and constants aside).
   */
  liveAt(step: number): Set<string> {
    let live = this.liveSets.get(step);
    if (live) return live;
    const defined = new Set(
      this.steps.slice(0, step).flatMap((s) => s.op.outputs.map((o) => o.name)),
    );
    const read = [
      ...this.outputs.map((o) => o.name),
      ...this.steps.slice(step).flatMap((s) => namesRead(s.op)),
    ];
    live = new Set(read.filter((name) => defined.has(name)));
    this.liveSets.set(step, live);
    return live;
  }

  private lookup(scope: Scope, name: string): RuntimeValue {
    const value = scope.get(name) ?? this.constants.get(name);
    if (!value) throw new FormatError(`value "${name}"`, "is used before it is defined");
    return value;
  }

  /** Runs a block's steps; `simd` (the fast kernels) only for the program's own block. */
  private runSteps(
    steps: readonly Step[],
    scope: Scope,
    options: PredictOptions,
    simd: SimdRuntime | undefined,
    checkpoint?: { live: ReadonlySet<string>; values: Map<string, RuntimeValue> },
  ): void {
    const { observe, inspect } = options;
    for (const step of steps) {
      if (step.absorbed && !observe) continue;
      const isConstant = (input: string) =>
        step.op.inputs[input].arguments.every(
          (a) => a.binding.case !== "name" || this.constants.has(a.binding.value),
        );
      // Replaced constants are in the scope: then every input is looked up.
      const constantInputs = options.replace ? undefined : step.constantInputs;
      const resolve = (input: string) => {
        const kept = constantInputs?.get(input);
        if (kept) return kept;
        const values = step.op.inputs[input].arguments.map((a) =>
          a.binding.case === "name"
            ? this.lookup(scope, a.binding.value)
            : this.literals.get(a.binding.value as Value)!,
        );
        if (kept === undefined) constantInputs?.set(input, isConstant(input) ? values : null);
        return values;
      };
      const runBlock = (index: number, inputs: readonly RuntimeValue[]) => {
        const block = step.blocks[index];
        if (!block)
          throw new FormatError(`op ${step.op.type} "${step.name}"`, `has no block ${index}`);
        const inner = new Scope(scope);
        block.inputs.forEach((name, i) => inner.values.set(name, inputs[i]));
        this.runSteps(block.steps, inner, options, undefined);
        return block.outputs.map((name) => this.lookup(inner, name));
      };
      const fused = observe ? undefined : step.fused;
      const residual =
        fused?.residual === undefined ? undefined : this.lookup(scope, fused.residual);
      const context = (fast: SimdRuntime | undefined) =>
        new OpContext(step.op, step.name, step.outputs, resolve, runBlock, this.gemm, {
          simd: fast,
          isConstant,
          cache: step.cache,
          clamp: fused?.clamp,
          residual: residual && isNumeric(residual) ? residual : undefined,
        });
      let ctx = context(this.heapFull ? undefined : simd);
      inspect?.(ctx);
      let produced: RuntimeValue[] | RuntimeValue;
      try {
        try {
          produced = step.run(ctx);
        } catch (error) {
          if (!(error instanceof HeapFullError) || !simd) throw error;
          // Out of heap (a model too large for 4 GiB of packed weights and values): this op and
          // every later one run on the plain kernels; values already in the heap stay readable.
          this.heapFull = true;
          simd.endOp();
          ctx = context(undefined);
          produced = step.run(ctx);
        }
      } catch (error) {
        if (error instanceof CoreMLOptimizeError) throw error;
        throw new ModelRunError(`op ${step.op.type} "${step.name}"`, error);
      }
      const results = Array.isArray(produced) ? produced : [produced];
      if (results.length < step.op.outputs.length) {
        throw new FormatError(
          `op ${step.op.type} "${step.name}"`,
          `declares ${step.op.outputs.length} outputs but makes ${results.length}`,
        );
      }
      // A fused activation's output stands for both ops'.
      const storing = fused?.into ?? step;
      if (fused?.clamp && !ctx.clamped) results[0] = applyClamp(results[0], fused.clamp, simd);
      storing.op.outputs.forEach((output, i) => {
        const stored = this.storeOutput(storing, i, results[i]);
        scope.values.set(output.name, stored);
        simd?.hold(stored);
        if (observe && isNumeric(stored)) observe(output.name, stored, step.op);
        if (checkpoint?.live.has(output.name)) {
          // Values may sit in the kernels' heap, reused once released: keep a copy.
          const copy = isNumeric(stored) ? { ...stored, data: stored.data.slice() } : stored;
          checkpoint.values.set(output.name, copy);
        }
      });
      simd?.endOp();
      for (const name of [step, ...(fused?.steps ?? [])].flatMap((s) => s.release)) {
        const value = scope.values.get(name);
        if (value === undefined) continue;
        scope.values.delete(name);
        simd?.drop(value);
      }
    }
  }

  private convertInput(input: ProgramIO, given: Tensor): RuntimeValue {
    const shapeMatches =
      given.shape.length === input.shape.length &&
      input.shape.every((d, i) => d === null || d === given.shape[i]);
    if (!shapeMatches) {
      throw new ConfigError(
        `input "${input.name}" has shape [${given.shape.join(",")}], the program expects [${input.shape.map((d) => d ?? "?").join(",")}]`,
      );
    }
    const value = fromTensor(given);
    if (!isNumeric(value) || value.dtype === input.dtype || input.dtype === "string") return value;
    const data = Float32Array.from(value.data);
    roundInPlace(data, input.dtype);
    return { dtype: input.dtype, shape: value.shape, data };
  }

  private storeOutput(step: Step, index: number, value: RuntimeValue): RuntimeValue {
    if (!isNumeric(value)) return value;
    const declared = step.outputs[index];
    const dtype = declared.dtype && declared.dtype !== "string" ? declared.dtype : value.dtype;
    const shape = declared.shape;
    if (
      shape &&
      (shape.length !== value.shape.length ||
        shape.some((d, i) => d !== null && d !== value.shape[i]))
    ) {
      throw new FormatError(
        `op ${step.op.type} "${step.name}"`,
        `computed shape [${value.shape.join(",")}], the program declares [${shape.map((d) => d ?? "?").join(",")}]`,
      );
    }
    if (dtype === "fp16" || (dtype !== value.dtype && ELEMENT_TYPES[dtype].kind !== "float")) {
      roundInPlace(value.data, dtype);
    }
    return { dtype, shape: value.shape, data: value.data };
  }
}

/** Sees one op output: its value name, its value (not to be modified) and the op. */
export type ValueObserver = (name: string, value: NumericValue, op: Operation) => void;

/**
 * Sees an op with its inputs resolved, just before it runs (read them through the context;
 * modify nothing, keep nothing past the call).
 */
export type OpInspector = (ctx: OpContext) => void;

export interface PredictOptions {
  observe?: ValueObserver;
  /** Unlike observe, leaves fused activations fused: an op's inputs exist either way. */
  inspect?: OpInspector;
  /** Constants (by value name) replaced for this prediction, e.g. one weight compressed. */
  replace?: ReadonlyMap<string, RuntimeValue>;
  /**
   * Start at top-level step `step`, with `values` holding what the steps before it computed
   * (e.g. observed on an earlier prediction with the same inputs), so only the rest runs.
   */
  resume?: { step: number; values: ReadonlyMap<string, RuntimeValue> };
  /**
   * Fills `values` with copies of what a later prediction on the same inputs resumed at
   * `step` needs (see liveAt): a checkpoint kept instead of every activation.
   */
  checkpoint?: { step: number; values: Map<string, RuntimeValue> };
  /** The states of a stateful program (see newState), updated in place by the prediction. */
  state?: ProgramState;
}

export interface LoadOptions {
  /** The program function to run (default: the model's default function, else "main"). */
  functionName?: string;
  /** For pipelines: the index of the ML program stage to run on its own. */
  pipelineStage?: number;
  /**
   * Worker threads that share out large matrix products (results are the same as on the
   * calling thread alone). The caller owns and closes the pool.
   */
  pool?: TaskPool;
  /**
   * Runs every op with the plain JavaScript kernels, the reference the fast (WebAssembly
   * SIMD) kernels are checked against. They are used anyway where WebAssembly SIMD or shared
   * memory is missing.
   */
  reference?: boolean;
}

/** The ML program spec to run: the model itself, or the chosen stage of a pipeline. */
function programSpec(spec: Model, stage: number | undefined): Model {
  const chosen = stageSpec(spec, stage);
  if (chosen.Type.case !== "mlProgram") {
    throw new UnsupportedError(
      `only ML programs and neural networks can be run (this model is a ${chosen.Type.case ?? "empty model"})`,
    );
  }
  return chosen;
}

/** The model to run: the model itself, or the chosen stage of a pipeline. */
export function stageSpec(spec: Model, stage: number | undefined): Model {
  const type = spec.Type;
  const pipeline =
    type.case === "pipeline"
      ? type.value
      : type.case === "pipelineClassifier" || type.case === "pipelineRegressor"
        ? type.value.pipeline
        : undefined;
  if (pipeline) {
    const kinds = pipeline.models.map((m, i) => `${i}: ${m.Type.case ?? "empty"}`).join(", ");
    if (stage === undefined) {
      throw new UnsupportedError(
        `this model is a pipeline (${kinds}); choose a stage to run (pipeline stage / --stage)`,
      );
    }
    const chosen = pipeline.models[stage];
    if (!chosen) throw new ConfigError(`the pipeline has no stage ${stage} (${kinds})`);
    return stageSpec(chosen, undefined);
  }
  if (stage !== undefined)
    throw new ConfigError("a pipeline stage was chosen, but the model is not a pipeline");
  return spec;
}

/** An inline literal: a tensor, or a list of scalars (e.g. classifier labels) as a vector. */
async function readLiteral(value: Value, model: MLModel, label: string): Promise<RuntimeValue> {
  const immediate = value.value.case === "immediateValue" ? value.value.value.value : undefined;
  if (immediate?.case !== "list") return fromTensor(await readTensorValue(value, model, label));
  const items = await Promise.all(immediate.value.values.map((v) => readLiteral(v, model, label)));
  if (items.length > 0 && items.every((item) => !isNumeric(item))) {
    return {
      dtype: "string",
      shape: [items.length],
      data: items.flatMap((item) => item.data as string[]),
    };
  }
  const numeric = items.filter(isNumeric);
  if (numeric.length !== items.length) throw new UnsupportedError(`${label}: mixed list literal`);
  const data = new Float32Array(numeric.reduce((n, item) => n + item.data.length, 0));
  let at = 0;
  for (const item of numeric) {
    data.set(item.data, at);
    at += item.data.length;
  }
  return { dtype: numeric[0]?.dtype ?? "fp32", shape: [data.length], data };
}

/** Throws naming every op type of the block that the interpreter cannot run. */
function checkSupported(block: Block): void {
  const missing = new Map<string, string>();
  for (const { op } of walkOperations(block)) {
    if (op.type === "const" || kernelFor(op.type) || CONSTEXPR_OPS.has(op.type)) continue;
    if (!missing.has(op.type)) missing.set(op.type, opName(op));
  }
  if (missing.size > 0) {
    const list = [...missing].map(([type, name]) => `${type} (first: "${name}")`).join(", ");
    throw new UnsupportedError(`the interpreter does not support op ${list}`);
  }
}

/** Names of the values constexpr ops take as parameters. */
function constexprParameterNames(block: Block): Set<string> {
  const names = new Set<string>();
  for (const { op } of walkOperations(block)) {
    if (!isConstexprOp(op.type)) continue;
    for (const [, binding] of parameterBindings(op))
      if (typeof binding === "string") names.add(binding);
  }
  return names;
}

/** The value names an op reads, including those read by (or passed out of) its nested blocks. */
function namesRead(op: Operation): string[] {
  const names: string[] = [];
  for (const argument of Object.values(op.inputs)) {
    for (const binding of argument.arguments) {
      if (binding.binding.case === "name") names.push(binding.binding.value);
    }
  }
  for (const block of op.blocks) {
    names.push(...block.outputs);
    for (const inner of block.operations) names.push(...namesRead(inner));
  }
  return names;
}

/** Marks on each step the values it is the last reader of, so predictions free them early. */
function planReleases(steps: Step[], block: Block, constants: Map<string, RuntimeValue>): void {
  const lastUse = new Map<string, number>();
  steps.forEach((step, index) => {
    for (const name of namesRead(step.op)) lastUse.set(name, index);
  });
  const keep = new Set(block.outputs);
  for (const [name, index] of lastUse) {
    if (!keep.has(name) && !constants.has(name)) steps[index].release.push(name);
  }
}

/** Activation ops that are a clamp, with their bounds (when constant). */
const CLAMPS: Record<
  string,
  (op: Operation, scalar: (input: string) => number | undefined) => Clamp | undefined
> = {
  relu: () => ({ lo: 0, hi: Infinity }),
  relu6: () => ({ lo: 0, hi: 6 }),
  clip: (_, scalar) => {
    const lo = scalar("alpha");
    const hi = scalar("beta");
    return lo === undefined || hi === undefined ? undefined : { lo, hi };
  },
};

/**
 * Ops whose kernels clamp their output as they write it (conv, linear), or whose output is
 * clamped in place right after (the arithmetic ops): either way one value, not two.
 */
const CLAMPING_OPS = new Set(["conv", "linear", "add", "sub", "mul", "real_div"]);

/** Ops whose kernels add a residual as they write their output (OpServices.residual). */
const RESIDUAL_OPS = new Set(["conv", "linear"]);

/**
 * Pairs each conv or linear op with an activation op that is a clamp and the only reader of
 * its output (nor a block output), so one pass writes both; then each conv or linear op with
 * an add that alone reads its output (and the add's clamp), so its tiles add the residual too.
 */
function planFusions(
  steps: Step[],
  block: Block,
  constants: Map<string, RuntimeValue>,
  literals: Map<Value, RuntimeValue>,
): void {
  const readers = new Map<string, number>();
  const count = (name: string) => readers.set(name, (readers.get(name) ?? 0) + 1);
  for (const step of steps) for (const name of namesRead(step.op)) count(name);
  for (const name of block.outputs) count(name);
  steps.forEach((step, index) => {
    const next = steps[index + 1];
    if (!next || !CLAMPING_OPS.has(step.op.type) || step.op.outputs.length !== 1) return;
    const output = step.op.outputs[0].name;
    const x = next.op.inputs["x"]?.arguments;
    if (x?.length !== 1 || x[0].binding.case !== "name" || x[0].binding.value !== output) return;
    if (readers.get(output) !== 1) return;
    const scalar = (input: string) => {
      const binding = next.op.inputs[input]?.arguments[0]?.binding;
      const value =
        binding?.case === "name"
          ? constants.get(binding.value)
          : binding?.case === "value"
            ? literals.get(binding.value)
            : undefined;
      return value && isNumeric(value) && value.data.length === 1 ? value.data[0] : undefined;
    };
    const clamp = CLAMPS[next.op.type]?.(next.op, scalar);
    if (!clamp) return;
    step.fused = { clamp, steps: [next], into: next };
    next.absorbed = true;
  });
  steps.forEach((step, index) => {
    const next = steps[index + 1];
    if (!next || !RESIDUAL_OPS.has(step.op.type) || step.fused || next.op.type !== "add") return;
    // The sum in float32 as the add computes it: only when the op's output is not rounded.
    if (step.op.outputs.length !== 1 || step.outputs[0].dtype !== "fp32") return;
    const output = step.op.outputs[0].name;
    if (readers.get(output) !== 1) return;
    const operands = ["x", "y"].map((input) => next.op.inputs[input]?.arguments);
    if (operands.some((bound) => bound?.length !== 1 || bound[0].binding.case !== "name")) return;
    const names = operands.map((bound) => bound![0].binding.value as string);
    const mine = names.indexOf(output);
    if (mine < 0 || names[1 - mine] === output) return;
    const after = next.fused?.steps ?? [];
    step.fused = {
      clamp: next.fused?.clamp,
      residual: names[1 - mine],
      steps: [next, ...after],
      into: next.fused?.into ?? next,
    };
    next.absorbed = true;
  });
}

/** The clamp of an activation the kernel did not apply itself, in place. */
function applyClamp(value: RuntimeValue, { lo, hi }: Clamp, simd?: SimdRuntime): RuntimeValue {
  if (!isNumeric(value)) return value;
  const data = value.data;
  if (simd?.heap.holds(data)) {
    simd.heap.elementwise.clamp(data.byteOffset, data.byteOffset, data.length, lo, hi);
    return value;
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    data[i] = v < lo ? lo : v > hi ? hi : v;
  }
  return value;
}
