/** Worker thread entry: loads the task modules, then runs tasks posted by the pool. */
import { parentPort, workerData } from "node:worker_threads";
import { replyTo, runTask } from "./task-pool.js";

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
  const { reply, transfer } = await replyTo(ready, task, payload);
  parentPort!.postMessage(reply, transfer);
});
