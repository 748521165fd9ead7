/** What an op implementation sees while the interpreter runs it, and the op registry. */
import type { Operation } from "../format/gen/MIL_pb.js";
import { FormatError } from "../errors.js";
import type { Dim } from "../program/types.js";
import type { ElementType } from "../kernels/dtype.js";
import type { Gemm } from "../kernels/ops/matmul.js";
import { freshArray, type Allocate } from "../kernels/ops/elementwise.js";
import type { SimdRuntime } from "./simd.js";
import { isNumeric, type NumericValue, type RuntimeValue } from "./value.js";

export interface DeclaredOutput {
  dtype: ElementType | undefined;
  shape: Dim[] | undefined;
}

/** An activation that clamps values to [lo, hi] (ReLU, ReLU6, clip). */
export interface Clamp {
  lo: number;
  hi: number;
}

/** What the interpreter offers an op beyond its inputs. */
export interface OpServices {
  /** The fast kernels and the arena (only for ops of the program's own block). */
  simd?: SimdRuntime;
  /** Whether every value bound to an input is a program constant. */
  isConstant?: (input: string) => boolean;
  /** What the kernel keeps between predictions (e.g. tables for an input shape). */
  cache?: Map<string, unknown>;
  /** An activation to apply to the op's (single) output; kernels that do set `clamped`. */
  clamp?: Clamp;
  /**
   * A value to add to the op's (single) output before the clamp: the other operand of the add
   * that alone reads it (a residual connection). The kernels given one (conv, linear) always
   * add it.
   */
  residual?: NumericValue;
}

export class OpContext {
  /** Set by a kernel that applied `services.clamp` itself. */
  clamped = false;

  constructor(
    readonly op: Operation,
    readonly name: string,
    readonly outputs: readonly DeclaredOutput[],
    private readonly resolve: (input: string) => RuntimeValue[],
    /** Runs the op's nested block `index` on the given block inputs, returning its outputs. */
    readonly runBlock: (index: number, inputs: readonly RuntimeValue[]) => RuntimeValue[],
    /** The matrix product to use (single-thread, or shared out across worker threads). */
    readonly gemm: Gemm,
    readonly services: OpServices = {},
  ) {}

  get simd(): SimdRuntime | undefined {
    return this.services.simd;
  }

  /** Where the op's kernel puts its output: the arena's blocks when there is one. */
  get allocate(): Allocate {
    const simd = this.services.simd;
    return simd ? (length) => simd.output(length) : freshArray;
  }

  /** Whether an input is a program constant (so what is derived from it can be kept). */
  isConstant(input: string): boolean {
    return this.services.isConstant?.(input) ?? false;
  }

  /** A FormatError naming this op, for malformed programs. */
  fail(problem: string): never {
    throw new FormatError(`op ${this.op.type} "${this.name}"`, problem);
  }

  has(input: string): boolean {
    return (this.op.inputs[input]?.arguments.length ?? 0) > 0;
  }

  value(input: string): RuntimeValue {
    if (!this.has(input)) this.fail(`required input "${input}" is missing`);
    return this.resolve(input)[0];
  }

  tensor(input: string): NumericValue {
    const value = this.value(input);
    if (!isNumeric(value)) this.fail(`input "${input}" must be numeric`);
    return value;
  }

  optionalTensor(input: string): NumericValue | undefined {
    return this.has(input) ? this.tensor(input) : undefined;
  }

  /** Every value bound to a variadic input, whatever its kind. */
  values(input: string): RuntimeValue[] {
    if (!this.has(input)) this.fail(`required input "${input}" is missing`);
    return this.resolve(input);
  }

  /** Every value bound to a variadic input. */
  tensors(input: string): NumericValue[] {
    if (!this.has(input)) this.fail(`required input "${input}" is missing`);
    return this.resolve(input).map((v) => {
      if (!isNumeric(v)) this.fail(`input "${input}" must be numeric`);
      return v;
    });
  }

  ints(input: string, fallback?: number[]): number[] {
    if (!this.has(input)) {
      if (fallback === undefined) this.fail(`required input "${input}" is missing`);
      return fallback;
    }
    return Array.from(this.tensor(input).data);
  }

  int(input: string, fallback?: number): number {
    return this.scalar(input, fallback);
  }

  float(input: string, fallback?: number): number {
    return this.scalar(input, fallback);
  }

  bool(input: string, fallback?: boolean): boolean {
    return this.scalar(input, fallback === undefined ? undefined : Number(fallback)) !== 0;
  }

  string(input: string, fallback?: string): string {
    if (!this.has(input)) {
      if (fallback === undefined) this.fail(`required input "${input}" is missing`);
      return fallback;
    }
    const value = this.value(input);
    if (value.dtype !== "string") this.fail(`input "${input}" must be a string`);
    return value.data[0];
  }

  private scalar(input: string, fallback?: number): number {
    if (!this.has(input)) {
      if (fallback === undefined) this.fail(`required input "${input}" is missing`);
      return fallback;
    }
    const data = this.tensor(input).data;
    if (data.length !== 1) this.fail(`input "${input}" must be a scalar`);
    return data[0];
  }
}

/** An op implementation: its outputs in order (dtypes are taken from the program). */
export type OpKernel = (ctx: OpContext) => RuntimeValue[] | RuntimeValue;
