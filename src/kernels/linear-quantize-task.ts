/** Worker-pool registration of the linear quantization kernel (loaded by pool workers). */
import { registerTaskModule, registerTasks } from "../parallel/tasks.js";
import type { Tensor } from "./dtype.js";
import { linearQuantize, type LinearQuantizeSpec } from "./linear-quantize.js";

export const LINEAR_QUANTIZE_TASK = "linearQuantize";

registerTasks({
  [LINEAR_QUANTIZE_TASK]: ({ weight, spec }: { weight: Tensor; spec: LinearQuantizeSpec }) =>
    linearQuantize(weight, spec),
});
registerTaskModule(import.meta.url);
