/**
 * Web Worker entry (module worker) for WebWorkerPool: the first message names the task
 * modules to load; each later one runs a task and posts its result back.
 */
import { transferablesOf } from "./task-pool.js";
import { TASKS } from "./tasks.js";

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
  try {
    await ready;
    const run = TASKS[data.task];
    if (!run) throw new Error(`unknown worker task ${data.task}`);
    const value = run(data.payload);
    const transfer = [...new Set([...transferablesOf(value), ...transferablesOf(data.payload)])];
    scope.postMessage({ ok: true, value }, transfer);
  } catch (error) {
    scope.postMessage({ ok: false, error: (error as Error).stack ?? String(error) });
  }
});
