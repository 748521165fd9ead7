/** Worker thread entry: says it has started, then runs the tasks posted by the pool. */
import { parentPort } from "node:worker_threads";
import { replyTo, runTask, type Reply } from "./task-pool.js";

interface TaskMessage {
  task: string;
  payload: never;
  /** Present for blocking runs: [finished, failed] counters the caller waits on. */
  signal?: Int32Array;
}

/** Jobs run one after another in the order they came: each reply answers the pool's oldest job. */
let previous: Promise<void> = Promise.resolve();
parentPort!.on("message", (message: TaskMessage) => {
  previous = previous.then(() => handle(message));
});

async function handle({ task, payload, signal }: TaskMessage): Promise<void> {
  if (signal) {
    try {
      await runTask(task, payload);
    } catch {
      Atomics.add(signal, 1, 1);
    }
    Atomics.add(signal, 0, 1);
    Atomics.notify(signal, 0);
    return;
  }
  const { reply, transfer } = await replyTo(task, payload);
  parentPort!.postMessage(reply, transfer);
}
parentPort!.postMessage({ ready: true } satisfies Reply);
