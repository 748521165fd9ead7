/** Worker-pool registration of the linear quantization kernel (loaded by pool workers). */
import { registerTaskModule, registerTasks } from "../parallel/tasks.js";
import type { Tensor } from "./dtype.js";
import { linearQuantize, linearQuantizeKept, type LinearQuantizeSpec } from "./linear-quantize.js";

export const LINEAR_QUANTIZE_TASK = "linearQuantize";

registerTasks({
  [LINEAR_QUANTIZE_TASK]: ({
    weight,
    spec,
    keep,
  }: {
    weight: Tensor;
    spec: LinearQuantizeSpec;
    keep?: Uint8Array;
  }) => (keep ? linearQuantizeKept(weight, spec, keep) : linearQuantize(weight, spec)),
});
registerTaskModule(import.meta.url);
