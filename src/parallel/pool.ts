/**
 * A pool of Node worker threads running the kernels of the task table (tasks.ts): work is
 * queued and handed to the first idle worker (queued-pool.ts). With `size` 0 tasks run inline
 * on the calling thread.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import "./relaxed-simd-node.js";
import { QueuedPool, type Slot, type Warn } from "./queued-pool.js";
import type { Reply, Transfer } from "./task-pool.js";
import type { TaskName } from "./tasks.js";

export class WorkerPool extends QueuedPool<Worker> {
  readonly cores = availableParallelism();

  /** `size` defaults to the number of cores. */
  constructor(size: number = availableParallelism(), warn?: Warn) {
    super(size, warn);
  }

  protected spawn(): Slot<Worker> {
    const worker = new Worker(new URL("./worker.js", import.meta.url));
    const slot: Slot<Worker> = { worker, ready: false, jobs: [] };
    worker.on("message", (reply: Reply) => this.receive(slot, reply));
    worker.on("error", (error) => this.lose(slot, error));
    this.slots.push(slot);
    return slot;
  }

  protected post(worker: Worker, task: TaskName, payload: unknown, transfer: Transfer): void {
    worker.ref();
    worker.postMessage({ task, payload }, transfer);
  }

  /** Idle workers do not keep the process alive (starting ones do, until they are ready). */
  protected override idle(): void {
    for (const slot of this.slots) if (slot.ready && slot.jobs.length === 0) slot.worker.unref();
  }

  /** Blocks the calling thread (Atomics.wait) until the workers are done; needs `size` ≥ 1. */
  runBlocking(
    task: TaskName,
    payloads: readonly unknown[],
    meanwhile: () => void = () => {},
  ): void {
    if (this.closed) throw new Error("worker pool is closed");
    if (this.size === 0) throw new Error("a pool without workers cannot run blocking tasks");
    while (this.slots.length < Math.min(this.size, payloads.length)) this.spawn();
    // [finished runs, failed runs]: workers count up and wake this thread; they post no reply,
    // so the pool's queue bookkeeping is untouched.
    const signal = new Int32Array(new SharedArrayBuffer(8));
    payloads.forEach((payload, i) => {
      this.slots[i % this.slots.length].worker.postMessage({ task, payload, signal });
    });
    meanwhile();
    for (let done = Atomics.load(signal, 0); done < payloads.length;) {
      Atomics.wait(signal, 0, done);
      done = Atomics.load(signal, 0);
    }
    if (signal[1] > 0) throw new Error(`worker task ${task} failed in ${signal[1]} worker(s)`);
  }

  async close(): Promise<void> {
    this.closed = true;
    // An unreferenced worker's exit would not keep the process alive for this to finish.
    for (const slot of this.slots) slot.worker.ref();
    await Promise.all(this.slots.map((slot) => slot.worker.terminate()));
    this.slots.length = 0;
  }
}
