/**
 * Every kernel a worker can run, by name, with the module that holds it: the one table both
 * pools (worker threads and Web Workers) and their workers look tasks up in. A module is
 * imported when a task of it is first run, so a worker loads only the kernels it is given.
 * Each task takes one structured-cloneable payload (typed arrays, possibly views of
 * SharedArrayBuffers written in place) and returns a result the same way; tasks are pure
 * numeric kernels, with no I/O.
 */
export type Task = (payload: never) => unknown;

const TASKS = {
  linearQuantize: async () =>
    (await import("../kernels/linear-quantize-task.js")).linearQuantizeTask,
  prune: async () => (await import("../kernels/prune-task.js")).pruneTask,
  kmeans1DCentroids: async () =>
    (await import("../kernels/palettize/kmeans1d.js")).kmeans1DCentroids,
  palettizeGroups: async () => (await import("../kernels/palettize/modes.js")).palettizeGroups,
  gemmRows: async () => (await import("../kernels/gemm-task.js")).runGemmRows,
  simdServe: async () => (await import("../kernels/simd/task.js")).simdServeTask,
} satisfies Record<string, () => Promise<Task>>;

export type TaskName = keyof typeof TASKS;

/** Tasks that hold their worker until their own work runs out (a serve loop): none waits behind them. */
export const RESIDENT_TASKS: ReadonlySet<string> = new Set<TaskName>(["simdServe"]);

/** The kernel of a task, its module loaded on first use; fails on names not in the table. */
export function loadTask(name: string): Promise<Task> {
  if (!Object.prototype.hasOwnProperty.call(TASKS, name)) {
    return Promise.reject(new Error(`unknown worker task ${name}`));
  }
  return TASKS[name as TaskName]() as Promise<Task>;
}
