/**
 * A pool of Web Workers (module workers) running the kernels of the task table (tasks.ts), for
 * browsers: the same queue and protocol as the Node pool (queued-pool.ts). A page's thread may
 * not block, so this pool has no `runBlocking`.
 */
import { QueuedPool, type Slot, type Warn } from "./queued-pool.js";
import type { Reply, Transfer } from "./task-pool.js";
import type { TaskName } from "./tasks.js";

/** What the pool uses of a Web Worker. */
export interface WebWorkerLike {
  postMessage(message: unknown, transfer?: Transfer): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "error", listener: (event: { message?: string }) => void): void;
  terminate(): void;
}

/** Starts a module worker running `url` (the pool's worker script, web-worker.js). */
export type WorkerFactory = (url: URL) => WebWorkerLike;

/** The host's module-worker constructor, if it has one. */
declare const Worker: (new (url: URL, options: { type: "module" }) => WebWorkerLike) | undefined;

/**
 * Starts the pool's worker script. Written out in the form bundlers (Vite, webpack, Parcel)
 * recognize, so they emit the worker script as a file of its own and rewrite its URL.
 */
function startWorker(): WebWorkerLike {
  return new Worker!(new URL("./web-worker.js", import.meta.url), { type: "module" });
}

export interface WebWorkerPoolOptions {
  /** Starts a worker for the script's URL (default: the host's `Worker`, as a module worker). */
  createWorker?: WorkerFactory;
  /** Told when workers cannot start and kernels run on the calling thread instead. */
  warn?: Warn;
}

export class WebWorkerPool extends QueuedPool<WebWorkerLike> {
  readonly cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;

  private readonly createWorker: WorkerFactory | undefined;

  /**
   * Up to `size` workers, started when jobs come. Throws where there is no way to make one.
   * A pool serves any number of calls (`{ pool }`): keep one for a page's life, or close it.
   */
  constructor(size: number, options: WebWorkerPoolOptions = {}) {
    super(size, options.warn);
    if (!options.createWorker && !WebWorkerPool.available()) {
      throw new Error("this host has no Web Workers");
    }
    this.createWorker = options.createWorker;
  }

  /** Whether the host can run a pool with its own workers. */
  static available(): boolean {
    return typeof Worker === "function";
  }

  protected spawn(): Slot<WebWorkerLike> {
    const worker = this.createWorker
      ? this.createWorker(new URL("./web-worker.js", import.meta.url))
      : startWorker();
    const slot: Slot<WebWorkerLike> = { worker, ready: false, jobs: [] };
    worker.addEventListener("message", (event) => this.receive(slot, event.data as Reply));
    worker.addEventListener("error", (event) => {
      worker.terminate();
      // Browsers give no message when the script itself cannot be fetched or parsed.
      this.lose(slot, new Error(event.message || "the worker script did not load"));
    });
    this.slots.push(slot);
    return slot;
  }

  protected post(
    worker: WebWorkerLike,
    task: TaskName,
    payload: unknown,
    transfer: Transfer,
  ): void {
    worker.postMessage({ task, payload }, transfer);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots) slot.worker.terminate();
    this.slots.length = 0;
  }
}
