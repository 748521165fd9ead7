/**
 * A pool of Node worker threads running named kernels (see tasks.ts): work is queued and
 * handed to the first idle worker (queued-pool.ts). With `size` 0 tasks run inline on the
 * calling thread.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { QueuedPool, type Slot } from "./queued-pool.js";
import type { Reply, Transfer } from "./task-pool.js";
import { TASK_MODULES, TASKS } from "./tasks.js";

export class WorkerPool extends QueuedPool<Worker> {
  /** `size` defaults to the number of cores. */
  constructor(size: number = availableParallelism()) {
    super(size);
  }

  protected spawn(): Slot<Worker> {
    const worker = new Worker(new URL("./worker.js", import.meta.url), {
      workerData: { modules: [...TASK_MODULES] },
    });
    const slot: Slot<Worker> = { worker };
    worker.on("message", (reply: Reply) => this.settle(slot, reply));
    worker.on("error", (error) => this.lose(slot, error));
    // Idle workers do not keep the process alive.
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  protected post(worker: Worker, task: string, payload: unknown, transfer: Transfer): void {
    worker.ref();
    worker.postMessage({ task, payload }, transfer);
  }

  protected override idle(): void {
    for (const slot of this.slots) if (!slot.job) slot.worker.unref();
  }

  /** Blocks the calling thread (Atomics.wait) until the workers are done. */
  runBlocking(task: string, payloads: readonly unknown[], meanwhile: () => void = () => {}): void {
    if (this.closed) throw new Error("worker pool is closed");
    if (this.size === 0) {
      for (const payload of payloads) TASKS[task](payload as never);
      meanwhile();
      return;
    }
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
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
