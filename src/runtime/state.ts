/**
 * The states of a stateful model (a KV cache, an accumulator) while it runs over a sequence of
 * inputs: one tensor per state, zero unless given, updated in place by the program's
 * `write_state` ops and read by the next prediction's `read_state` ops.
 */
import { ConfigError } from "../errors.js";
import type { Tensor } from "../kernels/dtype.js";
import type { ProgramIO } from "./interpreter.js";
import { fromTensor, roundInPlace, toTensor, type NumericValue } from "./value.js";

export class ProgramState {
  /** Each state's value, as the running program holds it. */
  readonly values = new Map<string, NumericValue>();

  constructor(
    readonly declared: readonly ProgramIO[],
    initial: Readonly<Record<string, Tensor>> = {},
  ) {
    const known = new Set(declared.map((s) => s.name));
    for (const name of Object.keys(initial)) {
      if (!known.has(name)) {
        throw new ConfigError(
          `state ${name}: the function has no such state (it has ${[...known].join(", ") || "none"})`,
        );
      }
    }
    for (const state of declared) {
      if (state.shape.some((d) => d === null)) {
        throw new ConfigError(`state ${state.name}: its shape is not fully known`);
      }
      const shape = state.shape as number[];
      const count = shape.reduce((a, b) => a * b, 1);
      const given = initial[state.name];
      let data = new Float32Array(count);
      if (given) {
        const value = fromTensor(given);
        if (value.dtype === "string" || value.data.length !== count) {
          throw new ConfigError(
            `state ${state.name}: expected ${count} values of shape [${shape.join(",")}], got [${given.shape.join(",")}]`,
          );
        }
        data = Float32Array.from(value.data);
        if (state.dtype !== "string") roundInPlace(data, state.dtype);
      }
      if (state.dtype === "string") throw new ConfigError(`state ${state.name}: not numeric`);
      this.values.set(state.name, { dtype: state.dtype, shape, data });
    }
  }

  /** The states now, in their declared types. */
  tensors(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, value] of this.values) out[name] = toTensor(value, value.dtype);
    return out;
  }
}
