/** Linear quantization as a worker task (see parallel/tasks.ts). */
import type { Tensor } from "./dtype.js";
import { linearQuantize, linearQuantizeKept, type LinearQuantizeSpec } from "./linear-quantize.js";

/** Quantizes `weight`, or only its kept elements when a pruning mask `keep` is given. */
export function linearQuantizeTask({
  weight,
  spec,
  keep,
}: {
  weight: Tensor;
  spec: LinearQuantizeSpec;
  keep?: Uint8Array;
}) {
  return keep ? linearQuantizeKept(weight, spec, keep) : linearQuantize(weight, spec);
}
