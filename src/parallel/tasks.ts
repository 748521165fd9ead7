/**
 * The functions worker threads can run, by name. Each takes one structured-cloneable payload
 * (typed arrays, possibly views of SharedArrayBuffers written in place) and returns a result
 * the same way. They must be pure numeric kernels: no I/O.
 */
export type Task = (payload: never) => unknown;

export const TASKS: Record<string, Task> = {};

/** Adds kernels to the table; modules that define worker tasks call this at load time. */
export function registerTasks(tasks: Record<string, Task>): void {
  Object.assign(TASKS, tasks);
}
