/**
 * What compression passes and the interpreter ask of a pool of workers running the kernels of
 * the task table (tasks.ts): Node worker threads (pool.ts) or Web Workers (web-pool.ts).
 */
import { loadTask, type TaskName } from "./tasks.js";

/** Below this many elements, handing one tensor to a worker costs more than it saves. */
export const WORKER_MINIMUM_ELEMENTS = 1 << 16;

/**
 * Below this much weight data a pool started for one call costs more than it saves: on the
 * 2-core development machine, models of 2.6 MB (DTLN) to 32 MB palettized 1.2–1.7× slower
 * with two new workers than on the calling thread. Pools passed in are used at any size.
 */
export const OWN_POOL_MINIMUM_BYTES = 64 << 20;

/** Buffers moved, not copied, with a message. */
export type Transfer = ArrayBuffer[];

/** A job's input, made when a worker takes the job. */
export type Prepare = () => { payload: unknown; transfer: Transfer };

/**
 * A pool can serve any number of passes, one after another or at once: make one, pass it as
 * `{ pool }` to each call, and close it when done, so its workers start only once.
 */
export interface TaskPool {
  /** Workers it may run at once (0: every task runs inline on the calling thread). */
  readonly size: number;
  /** Threads the host runs at once, which the workers share with the caller (if known). */
  readonly cores?: number;
  /** Runs `task` on a worker (or inline when the pool has no workers). */
  run<T>(task: TaskName, payload: unknown, transfer?: Transfer): Promise<T>;
  /**
   * `run` with the payload made only when a worker takes the job (to run now or next), so
   * copies made for it (chunks of one tensor, say) exist only while they are worked on.
   */
  runPrepared<T>(task: TaskName, prepare: Prepare): Promise<T>;
  /**
   * Runs `task` once per payload and returns when every run is done, for synchronous callers
   * whose tasks write their results into SharedArrayBuffers; `meanwhile` runs on the calling
   * thread while the workers work. Only pools whose calling thread may block have it (not
   * those of a browser page).
   */
  runBlocking?(task: TaskName, payloads: readonly unknown[], meanwhile?: () => void): void;
  /** Starts the workers before any job is given (they take a while to boot). */
  start?(): void;
  close(): Promise<void>;
}

/** A worker's error as it travels back: message and stack apart, so neither repeats the other. */
export interface ErrorReply {
  name: string;
  message: string;
  stack?: string;
}

/** A worker's messages: that it has started, then one answer per job. */
export type Reply =
  { ready: true } | { ok: true; value: unknown } | { ok: false; error: ErrorReply };

/** The error a job failed with in a worker, as an Error of the calling thread. */
export function errorFromReply({ name, message, stack }: ErrorReply): Error {
  const error = new Error(message);
  error.name = name;
  if (stack !== undefined) error.stack = stack;
  return error;
}

/** Runs a task of the table on this thread. */
export async function runTask(task: string, payload: never): Promise<unknown> {
  return (await loadTask(task))(payload);
}

/**
 * What a worker posts back for a job: the task's result or its error, with the buffers to move
 * along. The input's buffers go back too: garbage in the main thread, not piling up in workers.
 */
export async function replyTo(
  task: string,
  payload: never,
): Promise<{ reply: Reply; transfer: Transfer }> {
  try {
    const value = await runTask(task, payload);
    const transfer = [...new Set([...transferablesOf(value), ...transferablesOf(payload)])];
    return { reply: { ok: true, value }, transfer };
  } catch (thrown) {
    const error =
      thrown instanceof Error ? thrown : new Error(`worker task ${task} threw ${String(thrown)}`);
    return {
      reply: { ok: false, error: { name: error.name, message: error.message, stack: error.stack } },
      transfer: [],
    };
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
