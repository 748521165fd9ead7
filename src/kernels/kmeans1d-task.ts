/** 1-D k-means as a worker task (see parallel/tasks.ts). */
import { kmeans1d } from "./kmeans1d.js";

export function kmeans1dTask({ values, k }: { values: Float64Array; k: number }) {
  return kmeans1d(values, k);
}
