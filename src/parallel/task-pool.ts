/**
 * What compression passes and the interpreter ask of a pool of workers running the named
 * kernels of tasks.ts: Node worker threads (pool.ts) or Web Workers (web-pool.ts).
 */
import { TASKS } from "./tasks.js";

/** Buffers moved, not copied, with a message. */
export type Transfer = ArrayBuffer[];

/** A job's input, made when a worker takes the job. */
export type Prepare = () => { payload: unknown; transfer: Transfer };

export interface TaskPool {
  /** Workers it may run at once (0: every task runs inline on the calling thread). */
  readonly size: number;
  /** Runs `task` on a worker (or inline when the pool has no workers). */
  run<T>(task: string, payload: unknown, transfer?: Transfer): Promise<T>;
  /**
   * `run` with the payload made only when a worker takes the job, so copies made for it
   * (chunks of one tensor, say) exist only while they are worked on.
   */
  runPrepared<T>(task: string, prepare: Prepare): Promise<T>;
  /**
   * Runs `task` once per payload and returns when every run is done, for synchronous callers
   * whose tasks write their results into SharedArrayBuffers; `meanwhile` runs on the calling
   * thread while the workers work.
   */
  runBlocking(task: string, payloads: readonly unknown[], meanwhile?: () => void): void;
  close(): Promise<void>;
}

/** A worker's answer to a job. */
export type Reply = { ok: true; value: unknown } | { ok: false; error: string };

/** Runs a named task (tasks.ts). */
export function runTask(task: string, payload: never): unknown {
  const run = TASKS[task];
  if (!run) throw new Error(`unknown worker task ${task}`);
  return run(payload);
}

/**
 * What a worker posts back for a job, once its task modules are `ready`: the task's result or
 * its error, with the buffers to move along. The input's buffers go back too: garbage in the
 * main thread, not piling up in workers.
 */
export async function replyTo(
  ready: Promise<unknown>,
  task: string,
  payload: never,
): Promise<{ reply: Reply; transfer: Transfer }> {
  try {
    await ready;
    const value = runTask(task, payload);
    const transfer = [...new Set([...transferablesOf(value), ...transferablesOf(payload)])];
    return { reply: { ok: true, value }, transfer };
  } catch (error) {
    return { reply: { ok: false, error: (error as Error).stack ?? String(error) }, transfer: [] };
  }
}

/** Non-shared array buffers in a result (or payload) are moved back, not copied. */
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
