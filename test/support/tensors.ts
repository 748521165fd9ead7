import type { Tensor } from "../../src/kernels/dtype.js";
import { floatToHalfArray } from "../../src/kernels/fp16.js";

/** A deterministic fp16 tensor of values in (-1, 1). */
export function randomHalf(shape: number[], seed: number): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(count);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    values[i] = (state / 2 ** 32 - 0.5) * 2;
  }
  return { dtype: "fp16", shape, data: floatToHalfArray(values) };
}
