/** Worker-pool registration of 1-D k-means (loaded by pool workers). */
import { registerTaskModule, registerTasks } from "../parallel/tasks.js";
import { kmeans1d } from "./kmeans1d.js";

export const KMEANS_1D_TASK = "kmeans1d";

registerTasks({
  [KMEANS_1D_TASK]: ({ values, k }: { values: Float64Array; k: number }) => kmeans1d(values, k),
});
registerTaskModule(import.meta.url);
