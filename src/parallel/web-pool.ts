/**
 * A pool of Web Workers (module workers) running the named kernels of tasks.ts, for browsers:
 * the same protocol as the Node pool. Browsers do not let the main thread block, so
 * `runBlocking` runs its payloads inline.
 */
import type { Prepare, TaskPool, Transfer } from "./task-pool.js";
import { TASK_MODULES, TASKS } from "./tasks.js";

/** What the pool uses of a Web Worker. */
export interface WebWorkerLike {
  postMessage(message: unknown, transfer?: Transfer): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "error", listener: (event: { message?: string }) => void): void;
  terminate(): void;
}

/** Starts a module worker running `url`. */
export type WorkerFactory = (url: URL) => WebWorkerLike;

type WorkerConstructor = new (url: URL, options: { type: "module" }) => WebWorkerLike;

interface Job {
  task: string;
  prepare: Prepare;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: WebWorkerLike;
  job?: Job;
}

type Reply = { ok: true; value: unknown } | { ok: false; error: string };

/** The host's module-worker constructor, if it has one. */
function hostWorkers(): WorkerFactory | undefined {
  const Host = (globalThis as { Worker?: WorkerConstructor }).Worker;
  return Host && ((url) => new Host(url, { type: "module" }));
}

export class WebWorkerPool implements TaskPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private closed = false;
  private readonly createWorker: WorkerFactory;

  /**
   * `size` workers made by `createWorker` (default: the host's `Worker`, as module workers).
   * Throws where there is no way to make one.
   */
  constructor(
    readonly size: number,
    createWorker: WorkerFactory | undefined = hostWorkers(),
  ) {
    if (!createWorker) throw new Error("this host has no Web Workers");
    this.createWorker = createWorker;
  }

  /** Whether the host can run a pool with its own workers. */
  static available(): boolean {
    return hostWorkers() !== undefined;
  }

  private spawn(): Slot {
    const worker = this.createWorker(new URL("./web-worker.js", import.meta.url));
    const slot: Slot = { worker };
    // The first message names the modules whose tasks the worker loads.
    worker.postMessage({ modules: [...TASK_MODULES] });
    worker.addEventListener("message", (event) => {
      const reply = event.data as Reply;
      const job = slot.job!;
      slot.job = undefined;
      if (reply.ok) job.resolve(reply.value);
      else job.reject(new Error(reply.error));
      this.pump();
    });
    worker.addEventListener("error", (event) => {
      slot.job?.reject(new Error(event.message ?? "worker failed"));
      slot.job = undefined;
      this.slots.splice(this.slots.indexOf(slot), 1);
      worker.terminate();
      this.pump();
    });
    this.slots.push(slot);
    return slot;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.job);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.job = job;
      const { payload, transfer } = job.prepare();
      slot.worker.postMessage({ task: job.task, payload }, transfer);
    }
  }

  run<T>(task: string, payload: unknown, transfer: Transfer = []): Promise<T> {
    return this.runPrepared(task, () => ({ payload, transfer }));
  }

  runPrepared<T>(task: string, prepare: Prepare): Promise<T> {
    if (this.closed) return Promise.reject(new Error("worker pool is closed"));
    if (this.size === 0) {
      return new Promise<T>((resolve) => resolve(TASKS[task](prepare().payload as never) as T));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ task, prepare, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  runBlocking(task: string, payloads: readonly unknown[], meanwhile: () => void = () => {}): void {
    if (this.closed) throw new Error("worker pool is closed");
    for (const payload of payloads) TASKS[task](payload as never);
    meanwhile();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots) slot.worker.terminate();
    this.slots.length = 0;
  }
}
