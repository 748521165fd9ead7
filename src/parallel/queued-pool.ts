/**
 * The queue both pools share: jobs wait until a started worker can take one (starting new ones
 * up to the pool's size), and replies settle the oldest job of the worker that sent them. Each
 * worker holds one job ahead of the one it runs, so it starts the next as soon as it replies,
 * not once the calling thread (busy reading and preparing other weights) gets to its reply: in
 * a traced run of mobilenet_v2's vector palettization a worker waited between jobs for about a
 * fifth of the run. Subclasses start workers and post to them. With `size` 0 every task runs
 * inline on the calling thread; so does every job once a worker has failed to start (with one
 * warning), since a host that cannot start one worker (a missing or blocked script, say) will
 * not start the next; a serve loop, which would block the calling thread, is then refused.
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
    this.handOut();
    // Jobs left over start workers, one for each job no starting worker is free to take.
    const before = this.slots.length;
    let starting = this.slots.filter((slot) => !slot.ready && slot.jobs.length === 0).length;
    while (this.queue.length > starting && this.slots.length < this.size) {
      this.spawn();
      starting++;
    }
    if (this.slots.length > before) this.handOut();
    this.idle();
  }

  /**
   * Posts queued jobs in order: to idle workers first, then one held ahead by each worker once
   * every worker is running (a job held ahead must not wait while a worker that is still
   * starting could take it), never behind a task that holds its worker until its own work runs
   * out (a serve loop) nor as one, but for a serve loop behind another: a SIMD team posts a
   * worker's serve loop again only once the last one has left it, and must not wait for the
   * calling thread to read that reply. For the same reason a serve loop also goes to a worker
   * still starting, which runs it once up: a caller predicting in a loop right after loading a
   * program never let its event loop read the worker's "ready", and ran every prediction on
   * one thread (mobilenet_v2: 15.6 ms per image instead of 9.4).
   */
  private handOut(): void {
    const everyWorkerRunning =
      this.slots.length === this.size && this.slots.every((slot) => slot.ready);
    for (let held = 0; held < JOBS_PER_WORKER; held++) {
      for (const slot of this.slots) {
        if (this.queue.length === 0) return;
        const next = this.queue[0];
        const serveLoop = RESIDENT_TASKS.has(next.task);
        if (slot.jobs.length > held || (!slot.ready && !serveLoop)) continue;
        const mayHold = (everyWorkerRunning || serveLoop) && mayWaitBehind(next, slot.jobs);
        if (held > 0 && !mayHold) continue;
        this.queue.shift();
        slot.jobs.push(next);
        const { payload, transfer } = next.prepare();
        this.post(slot.worker, next.task, payload, transfer);
      }
    }
  }

  /** Starts every worker now, ahead of any job: they boot while the caller prepares its jobs. */
  start(): void {
    if (this.closed || this.inline) return;
    while (this.slots.length < this.size) this.spawn();
  }

  private runInline(job: Job): void {
    // A serve loop on the calling thread would block it waiting for jobs only it can post.
    if (RESIDENT_TASKS.has(job.task)) {
      job.reject(new Error(`task ${job.task} needs a worker`));
      return;
    }
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
