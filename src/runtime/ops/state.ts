/**
 * States (iOS18), such as a KV cache: a state input is a tensor that outlives a prediction
 * (runtime/state.ts keeps it). `read_state` copies its value out; `write_state` and
 * `coreml_update_state` copy a value in (the latter also returning the value).
 */
import type { OpContext, OpKernel } from "../kernel.js";
import { roundInPlace, type NumericValue } from "../value.js";

function readState(ctx: OpContext, state: NumericValue): NumericValue {
  const data = ctx.allocate(state.data.length);
  data.set(state.data);
  return { dtype: state.dtype, shape: state.shape, data };
}

function writeState(ctx: OpContext, state: NumericValue, value: NumericValue): void {
  if (value.data.length !== state.data.length) {
    ctx.fail(`writes [${value.shape.join(",")}] into a state of shape [${state.shape.join(",")}]`);
  }
  // The state's array is the one the next prediction reads: updated in place.
  state.data.set(value.data);
  roundInPlace(state.data, state.dtype);
}

export const STATE_KERNELS: Record<string, OpKernel> = {
  read_state: (ctx) => readState(ctx, ctx.tensor("input")),
  write_state: (ctx) => {
    writeState(ctx, ctx.tensor("input"), ctx.tensor("value"));
    return [];
  },
  coreml_update_state: (ctx) => {
    const value = ctx.tensor("value");
    writeState(ctx, ctx.tensor("state"), value);
    return value;
  },
};
