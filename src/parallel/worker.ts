/** Worker thread entry: loads the task modules, then runs tasks posted by the pool. */
import { parentPort, workerData } from "node:worker_threads";
import { TASKS } from "./tasks.js";

const { modules } = workerData as { modules: string[] };
const ready = Promise.all(modules.map((m) => import(m)));

parentPort!.on("message", async ({ task, payload }: { task: string; payload: never }) => {
  try {
    await ready;
    const run = TASKS[task];
    if (!run) throw new Error(`unknown worker task ${task}`);
    const value = run(payload);
    // Input buffers go back too: garbage in the main thread, not piling up in each worker.
    const transfer = [...new Set([...transferablesOf(value), ...transferablesOf(payload)])];
    parentPort!.postMessage({ ok: true, value }, transfer);
  } catch (error) {
    parentPort!.postMessage({ ok: false, error: (error as Error).stack ?? String(error) });
  }
});

/** Non-shared array buffers in a result are moved back, not copied. */
function transferablesOf(value: unknown): ArrayBuffer[] {
  const found = new Set<ArrayBuffer>();
  const visit = (v: unknown, depth: number) => {
    if (depth > 3 || v === null || typeof v !== "object") return;
    if (ArrayBuffer.isView(v)) {
      if (v.buffer instanceof ArrayBuffer && v.byteLength === v.buffer.byteLength)
        found.add(v.buffer);
      return;
    }
    for (const item of Object.values(v)) visit(item, depth + 1);
  };
  visit(value, 0);
  return [...found];
}
