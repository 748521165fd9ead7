/**
 * A pool of Web Workers (module workers) running the named kernels of tasks.ts, for browsers:
 * the same queue and protocol as the Node pool (queued-pool.ts). Browsers do not let the main
 * thread block, so `runBlocking` runs its payloads inline.
 */
import { QueuedPool, type Slot } from "./queued-pool.js";
import type { Reply, Transfer } from "./task-pool.js";
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

/** The host's module-worker constructor, if it has one. */
function hostWorkers(): WorkerFactory | undefined {
  const Host = (globalThis as { Worker?: WorkerConstructor }).Worker;
  return Host && ((url) => new Host(url, { type: "module" }));
}

export class WebWorkerPool extends QueuedPool<WebWorkerLike> {
  private readonly createWorker: WorkerFactory;

  /**
   * `size` workers made by `createWorker` (default: the host's `Worker`, as module workers).
   * Throws where there is no way to make one.
   */
  constructor(size: number, createWorker: WorkerFactory | undefined = hostWorkers()) {
    super(size);
    if (!createWorker) throw new Error("this host has no Web Workers");
    this.createWorker = createWorker;
  }

  /** Whether the host can run a pool with its own workers. */
  static available(): boolean {
    return hostWorkers() !== undefined;
  }

  protected spawn(): Slot<WebWorkerLike> {
    const worker = this.createWorker(new URL("./web-worker.js", import.meta.url));
    const slot: Slot<WebWorkerLike> = { worker };
    // The first message names the modules whose tasks the worker loads.
    worker.postMessage({ modules: [...TASK_MODULES] });
    worker.addEventListener("message", (event) => this.settle(slot, event.data as Reply));
    worker.addEventListener("error", (event) => {
      worker.terminate();
      this.lose(slot, new Error(event.message ?? "worker failed"));
    });
    this.slots.push(slot);
    return slot;
  }

  protected post(worker: WebWorkerLike, task: string, payload: unknown, transfer: Transfer): void {
    worker.postMessage({ task, payload }, transfer);
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
