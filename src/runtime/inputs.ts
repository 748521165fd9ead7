/** Seeded random inputs shaped like a program's inputs, for checks without user data. */
import { ELEMENT_TYPES, elementCount, type Tensor } from "../kernels/dtype.js";
import { UnsupportedError } from "../errors.js";
import { seededRandom } from "../kernels/random.js";
import type { ProgramIO } from "./interpreter.js";

/** Integer inputs (token ids, indices) are drawn from [0, INDEX_RANGE) so they stay valid. */
const INDEX_RANGE = 8;

/**
 * One sample per count: float inputs standard normal, integer inputs and indices (below their
 * table's size) uniform in [0, 8), bool inputs fair coins. Open dimensions are given size 1.
 */
export function randomSamples(
  inputs: readonly ProgramIO[],
  count: number,
  seed = 0,
): Record<string, Tensor>[] {
  const random = seededRandom(seed);
  const normal = () => {
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  return Array.from({ length: count }, () => {
    const sample: Record<string, Tensor> = {};
    for (const input of inputs) {
      const shape = input.shape.map((d) => d ?? 1);
      const n = elementCount(shape);
      const kind = ELEMENT_TYPES[input.dtype].kind;
      if (input.indexRange !== undefined) {
        const range = Math.min(input.indexRange, INDEX_RANGE);
        const values = Array.from({ length: n }, () => Math.floor(random() * range));
        sample[input.name] =
          kind === "float"
            ? { dtype: "fp32", shape, data: Float32Array.from(values) }
            : { dtype: "int32", shape, data: Int32Array.from(values) };
      } else if (input.image) {
        const data = Float32Array.from({ length: n }, () => Math.floor(random() * 256));
        sample[input.name] = { dtype: "fp32", shape, data };
      } else if (kind === "float") {
        sample[input.name] = {
          dtype: "fp32",
          shape,
          data: Float32Array.from({ length: n }, normal),
        };
      } else if (kind === "signed" || kind === "unsigned") {
        const data = Int32Array.from({ length: n }, () => Math.floor(random() * INDEX_RANGE));
        sample[input.name] = { dtype: "int32", shape, data };
      } else if (kind === "bool") {
        const data = Uint8Array.from({ length: n }, () => (random() < 0.5 ? 1 : 0));
        sample[input.name] = { dtype: "bool", shape, data };
      } else {
        throw new UnsupportedError(`cannot make random ${input.dtype} input "${input.name}"`);
      }
    }
    return sample;
  });
}
