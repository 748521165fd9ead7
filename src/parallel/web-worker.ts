/**
 * Web Worker entry (module worker) for WebWorkerPool: the first message names the task
 * modules to load; each later one runs a task and posts its result back.
 */
import { replyTo } from "./task-pool.js";

interface WorkerScope {
  addEventListener(type: "message", listener: (event: { data: WorkerMessage }) => void): void;
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
}

type WorkerMessage = { modules: string[] } | { task: string; payload: never };

const scope = globalThis as unknown as WorkerScope;
let ready: Promise<unknown> = Promise.resolve();

scope.addEventListener("message", async ({ data }) => {
  if ("modules" in data) {
    ready = Promise.all(data.modules.map((url) => import(url)));
    return;
  }
  const { reply, transfer } = await replyTo(ready, data.task, data.payload);
  scope.postMessage(reply, transfer);
});
