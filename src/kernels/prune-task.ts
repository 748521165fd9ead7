/** Worker-pool registration of the pruning kernel (loaded by pool workers). */
import { registerTaskModule, registerTasks } from "../parallel/tasks.js";
import { prune, type PrunableTensor, type PruneSpec } from "./prune.js";

export const PRUNE_TASK = "prune";

registerTasks({
  [PRUNE_TASK]: ({ weight, spec }: { weight: PrunableTensor; spec: PruneSpec }) =>
    prune(weight, spec),
});
registerTaskModule(import.meta.url);
