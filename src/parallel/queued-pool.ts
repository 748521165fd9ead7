/**
 * The queue both pools share: jobs wait until a started worker can take one (starting new ones
 * up to the pool's size), and replies settle the oldest job of the worker that sent them. Each
 * worker holds one job ahead of the one it runs, so it starts the next as soon as it replies,
 * not once the calling thread (busy reading and preparing other weights) gets to its reply: in
 * a traced run of mobilenet_v2's vector palettization a worker waited between jobs for about a
 * fifth of the run. Subclasses start workers and post to them. With `size` 0 every task runs
 * inline on the calling thread; so does every job once a worker has failed to start (with one
 * warning), since a host that cannot start one worker (a missing or blocked script, say) will
 * not start the next.
 */
import {
  errorFromReply,
  runTask,
  type Prepare,
  type Reply,
  type TaskPool,
  type Transfer,
} from "./task-pool.js";
import { RESIDENT_TASKS, type TaskName } from "./tasks.js";

interface Job {
  task: TaskName;
  prepare: Prepare;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

export interface Slot<W> {
  worker: W;
  /** Whether the worker has said it is running (jobs wait for that, so none is lost with it). */
  ready: boolean;
  /** Jobs posted to it and not yet answered, oldest first (it runs them in turn). */
  jobs: Job[];
}

/** Jobs a worker holds at most: the one it runs and the next. */
const JOBS_PER_WORKER = 2;

/** Where a pool says that it runs kernels on the calling thread instead. */
export type Warn = (message: string) => void;

/** Whether `next` may be posted to a worker holding `jobs` (see pump). */
function mayWaitBehind(next: Job, jobs: readonly Job[]): boolean {
  if (!RESIDENT_TASKS.has(next.task)) return !jobs.some((job) => RESIDENT_TASKS.has(job.task));
  return jobs.every((job) => job.task === next.task);
}

export abstract class QueuedPool<W> implements TaskPool {
  protected readonly slots: Slot<W>[] = [];
  private readonly queue: Job[] = [];
  protected closed = false;
  /** Set when a worker could not start: jobs run on the calling thread from then on. */
  private inline = false;

  constructor(
    readonly size: number,
    private readonly warn: Warn = (message) => console.warn(message),
  ) {}

  /** Starts a worker (its messages go to `receive`, its failure to `lose`). */
  protected abstract spawn(): Slot<W>;
  /** Posts a job's task and payload to a worker. */
  protected abstract post(worker: W, task: TaskName, payload: unknown, transfer: Transfer): void;
  /** Called after each round of handing out jobs, e.g. to let idle workers sleep. */
  protected idle(): void {}

  abstract close(): Promise<void>;

  /** A worker's message: it has started, or it answers its job; either way it is free. */
  protected receive(slot: Slot<W>, reply: Reply): void {
    if (this.closed) return;
    if ("ready" in reply) {
      slot.ready = true;
    } else {
      const job = slot.jobs.shift()!;
      if (reply.ok) job.resolve(reply.value);
      else job.reject(errorFromReply(reply.error));
    }
    this.pump();
  }

  /** A worker died: it leaves the pool, failing its jobs; one that never started ends the pool's use of workers. */
  protected lose(slot: Slot<W>, error: Error): void {
    this.slots.splice(this.slots.indexOf(slot), 1);
    for (const job of slot.jobs.splice(0)) job.reject(error);
    if (!slot.ready && !this.inline) {
      this.inline = true;
      this.warn(
        `coreml-optimize: a worker could not start (${error.message}); ` +
          `running kernels on the calling thread instead`,
      );
    }
    this.pump();
  }

  private pump(): void {
    if (this.inline) {
      for (const job of this.queue.splice(0)) this.runInline(job);
      return;
    }
    // Idle workers first, then a job ahead for each once every worker is running (a job held
    // ahead must not wait while a worker that is still starting could take it), never behind
    // or as a task that holds its worker until its own work runs out, but for one such task
    // behind another of its kind: a SIMD team posts a worker's serve loop again only once the
    // last one has left it, and must not wait for the calling thread to read that reply.
    const everyWorkerRunning =
      this.slots.length === this.size && this.slots.every((slot) => slot.ready);
    for (let held = 0; held < (everyWorkerRunning ? JOBS_PER_WORKER : 1); held++) {
      for (const slot of this.slots) {
        if (this.queue.length === 0) break;
        if (!slot.ready || slot.jobs.length > held) continue;
        if (held > 0 && !mayWaitBehind(this.queue[0], slot.jobs)) continue;
        const job = this.queue.shift()!;
        slot.jobs.push(job);
        const { payload, transfer } = job.prepare();
        this.post(slot.worker, job.task, payload, transfer);
      }
    }
    // Jobs left over start workers, one for each job not already waiting for one to start.
    let starting = this.slots.filter((slot) => !slot.ready).length;
    while (this.queue.length > starting && this.slots.length < this.size) {
      this.spawn();
      starting++;
    }
    this.idle();
  }

  /** Starts every worker now, ahead of any job: they boot while the caller prepares its jobs. */
  start(): void {
    if (this.closed || this.inline) return;
    while (this.slots.length < this.size) this.spawn();
  }

  private runInline(job: Job): void {
    runTask(job.task, job.prepare().payload as never).then(job.resolve, job.reject);
  }

  run<T>(task: TaskName, payload: unknown, transfer: Transfer = []): Promise<T> {
    return this.runPrepared(task, () => ({ payload, transfer }));
  }

  runPrepared<T>(task: TaskName, prepare: Prepare): Promise<T> {
    if (this.closed) return Promise.reject(new Error("worker pool is closed"));
    return new Promise<T>((resolve, reject) => {
      const job = { task, prepare, resolve: resolve as (v: unknown) => void, reject };
      if (this.size === 0 || this.inline) this.runInline(job);
      else {
        this.queue.push(job);
        this.pump();
      }
    });
  }
}
