/**
 * Web Worker entry (module worker) for WebWorkerPool: says it has started, then runs each task
 * posted to it and posts the result back. A task's kernel module is imported when that task
 * first comes.
 */
import { replyTo, type Reply } from "./task-pool.js";

interface WorkerScope {
  addEventListener(
    type: "message",
    listener: (event: { data: { task: string; payload: never } }) => void,
  ): void;
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
}

const scope = globalThis as unknown as WorkerScope;

/** Jobs run one after another in the order they came: each reply answers the pool's oldest job. */
let previous: Promise<void> = Promise.resolve();
scope.addEventListener("message", ({ data }) => {
  previous = previous.then(async () => {
    const { reply, transfer } = await replyTo(data.task, data.payload);
    scope.postMessage(reply, transfer);
  });
});
scope.postMessage({ ready: true } satisfies Reply);
