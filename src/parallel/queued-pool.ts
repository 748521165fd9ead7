/**
 * The queue both pools share: jobs wait until a worker is idle (or a new one may start), and
 * replies settle the job of the worker that sent them. Subclasses start workers and post to
 * them; with `size` 0 every task runs inline on the calling thread.
 */
import type { Prepare, Reply, TaskPool, Transfer } from "./task-pool.js";
import { TASKS } from "./tasks.js";

interface Job {
  task: string;
  prepare: Prepare;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export interface Slot<W> {
  worker: W;
  job?: Job;
}

export abstract class QueuedPool<W> implements TaskPool {
  protected readonly slots: Slot<W>[] = [];
  private readonly queue: Job[] = [];
  protected closed = false;

  constructor(readonly size: number) {}

  /** Starts a worker (its replies go to `settle`, its failure to `lose`). */
  protected abstract spawn(): Slot<W>;
  /** Posts a job's task and payload to a worker. */
  protected abstract post(worker: W, task: string, payload: unknown, transfer: Transfer): void;
  /** Called after each round of handing out jobs, e.g. to let idle workers sleep. */
  protected idle(): void {}

  abstract runBlocking(task: string, payloads: readonly unknown[], meanwhile?: () => void): void;
  abstract close(): Promise<void>;

  /** A worker's reply: settles its job and hands it the next one. */
  protected settle(slot: Slot<W>, reply: Reply): void {
    const job = slot.job!;
    slot.job = undefined;
    if (reply.ok) job.resolve(reply.value);
    else job.reject(new Error(reply.error));
    this.pump();
  }

  /** A worker died: its job fails and it leaves the pool. */
  protected lose(slot: Slot<W>, error: Error): void {
    slot.job?.reject(error);
    slot.job = undefined;
    this.slots.splice(this.slots.indexOf(slot), 1);
    this.pump();
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.job);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) break;
      const job = this.queue.shift()!;
      slot.job = job;
      const { payload, transfer } = job.prepare();
      this.post(slot.worker, job.task, payload, transfer);
    }
    this.idle();
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
}
