/**
 * A pool of worker threads running named kernels (see tasks.ts). Work is queued and handed to
 * the first idle worker. With `size` 0 tasks run inline on the calling thread, which is also
 * what happens where worker threads are unavailable.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Prepare, TaskPool, Transfer } from "./task-pool.js";
import { TASK_MODULES, TASKS } from "./tasks.js";

interface Job {
  task: string;
  prepare: Prepare;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job?: Job;
}

export class WorkerPool implements TaskPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private closed = false;

  /** `size` defaults to the number of cores. */
  constructor(readonly size: number = availableParallelism()) {}

  private spawn(): Slot {
    const worker = new Worker(new URL("./worker.js", import.meta.url), {
      workerData: { modules: [...TASK_MODULES] },
    });
    const slot: Slot = { worker };
    worker.on("message", (message: { ok: boolean; value?: unknown; error?: string }) => {
      const job = slot.job!;
      slot.job = undefined;
      if (message.ok) job.resolve(message.value);
      else job.reject(new Error(message.error));
      this.pump();
    });
    worker.on("error", (error) => {
      slot.job?.reject(error);
      slot.job = undefined;
      this.slots.splice(this.slots.indexOf(slot), 1);
      this.pump();
    });
    worker.unref();
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
      slot.worker.ref();
      const { payload, transfer } = job.prepare();
      slot.worker.postMessage({ task: job.task, payload }, transfer);
    }
    for (const slot of this.slots) if (!slot.job) slot.worker.unref();
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
