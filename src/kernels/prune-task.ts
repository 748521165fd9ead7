/** Pruning as a worker task (see parallel/tasks.ts). */
import { prune, type PrunableTensor, type PruneSpec } from "./prune.js";

export function pruneTask({ weight, spec }: { weight: PrunableTensor; spec: PruneSpec }) {
  return prune(weight, spec);
}
