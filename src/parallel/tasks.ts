/**
 * The functions worker threads can run, by name. Each takes one structured-cloneable payload
 * (typed arrays, possibly views of SharedArrayBuffers written in place) and returns a result
 * the same way. They must be pure numeric kernels: no I/O.
 */
export type Task = (payload: never) => unknown;

export const TASKS: Record<string, Task> = {};

/** Modules whose task registrations every worker loads before running anything. */
export const TASK_MODULES = new Set<string>();

/** Names a module (by URL) that registers tasks, so worker threads load it too. */
export function registerTaskModule(url: string): void {
  TASK_MODULES.add(url);
}

/** Adds kernels to the table; modules that define worker tasks call this at load time. */
export function registerTasks(tasks: Record<string, Task>): void {
  Object.assign(TASKS, tasks);
}
