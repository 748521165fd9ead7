/** Worker thread entry: loads the task modules, then runs tasks posted by the pool. */
import { parentPort, workerData } from "node:worker_threads";
import { transferablesOf } from "./task-pool.js";
import { TASKS } from "./tasks.js";

const { modules } = workerData as { modules: string[] };
const ready = Promise.all(modules.map((m) => import(m)));

interface TaskMessage {
  task: string;
  payload: never;
  /** Present for blocking runs: [finished, failed] counters the caller waits on. */
  signal?: Int32Array;
}

parentPort!.on("message", async ({ task, payload, signal }: TaskMessage) => {
  if (signal) {
    try {
      await ready;
      runTask(task, payload);
    } catch {
      Atomics.add(signal, 1, 1);
    }
    Atomics.add(signal, 0, 1);
    Atomics.notify(signal, 0);
    return;
  }
  try {
    await ready;
    const value = runTask(task, payload);
    // Input buffers go back too: garbage in the main thread, not piling up in each worker.
    const transfer = [...new Set([...transferablesOf(value), ...transferablesOf(payload)])];
    parentPort!.postMessage({ ok: true, value }, transfer);
  } catch (error) {
    parentPort!.postMessage({ ok: false, error: (error as Error).stack ?? String(error) });
  }
});

function runTask(task: string, payload: never): unknown {
  const run = TASKS[task];
  if (!run) throw new Error(`unknown worker task ${task}`);
  return run(payload);
}
