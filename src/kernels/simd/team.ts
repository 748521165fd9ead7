/**
 * Threads sharing out one kernel call over the SIMD heap. A job is a kind (an entry of JOBS)
 * and parameters written to a control block in the heap, cut into chunks; the calling thread
 * and every worker that is serving claim chunks one at a time (compare-and-swap on one word
 * holding the job's generation and the chunks taken from either end) until none are left, then
 * the caller waits for the last to finish. Even threads take chunks from the front, odd ones
 * from the back: consecutive jobs cut alike give each of two threads mostly the same part of
 * the values op after op, so it reads what it wrote itself, in its own core's cache. Workers
 * serve through a long-running pool task that sleeps on the control block between jobs and
 * leaves after a moment without work, so an idle program holds no thread; a word per worker
 * says whether it is serving, so the next job posts it again however soon after it left.
 * Which thread computes a chunk never changes its values: results are the same with any number
 * of threads.
 */
import type { TaskPool } from "../../parallel/task-pool.js";
import type { SimdHeap } from "./heap.js";

/** Runs chunk `chunk` of a job on thread `thread` (0: the caller), reading its parameters. */
export type ChunkRunner = (
  heap: SimdHeap,
  params: JobParams,
  chunk: number,
  thread: number,
) => void;

/** A job's parameters, as words of the control block (the same memory, read as floats too). */
export interface JobParams {
  ints: Int32Array;
  floats: Float32Array;
}

/** Job kinds by number, filled by the modules defining them (the same on every thread). */
export const JOBS: ChunkRunner[] = [];

// Control block words.
const CLAIM = 0;
const FINISHED = 1;
const TOTAL = 2;
const KIND = 3;
/** Set when a chunk threw: the job still completes (every chunk counts as finished). */
const FAILED = 4;
const PARAMS = 8;
export const PARAM_WORDS = 32;
/** Workers that took a chunk of the current (or last) job. */
const JOINED = 5;
/**
 * Then a word per worker: 1 from when the caller posts its serve task until the worker leaves
 * the serve loop. Kept in shared memory, not in the task's promise, which settles only when the
 * calling thread's event loop turns: a caller predicting in bursts 0.2 s apart found its worker
 * just gone and, by the promise, still serving, and ran the whole next burst alone
 * (mobilenet_v2: 18–23 ms per image instead of 12–15). The pool posts a serve task at once
 * behind one that ended (queued-pool.ts), so the worker is back within the burst.
 */
const SERVING = PARAMS + PARAM_WORDS;

/**
 * The claim word: the job's generation in the top byte, then the chunks taken from the front,
 * then those taken from the back (12 bits each).
 */
const CHUNK_BITS = 12;
const CHUNK_MASK = (1 << CHUNK_BITS) - 1;
const FRONT_SHIFT = CHUNK_BITS;
const GENERATION_SHIFT = 2 * CHUNK_BITS;
export const MAX_CHUNKS = CHUNK_MASK;
/**
 * Generations wrap within 8 bits. A thread stalled between reading the claim word and
 * swapping it may find a job 256 later with the same word: it then claims a chunk of that job,
 * checked against that job's total after the swap (so never one past its end).
 */
const GENERATION_MASK = 0xff;

/**
 * How long a thread polls a word before sleeping on it. Waking a sleeping thread takes tens of
 * microseconds (more on a virtual machine), as long as a small job: the caller's wait for the
 * last chunk and a worker's wait for the next job (the caller's work between two ops, a few
 * tens of microseconds) poll instead, and sleep only after a real pause. Not much longer: on a
 * machine busy with other processes a polling thread spends the share of the core its team
 * then needs (at load average 3, mobilenet_v2 took 42 ms per image on 2 threads with 1 ms of
 * polling, 29 ms with 0.2 ms).
 */
const SPIN_MS = 0.2;
/** Polls between two looks at the clock. */
const POLLS = 64;
/** How long a worker waits for a next job before it leaves. */
const IDLE_MS = 200;

export const SERVE_TASK = "simdServe";

/** What a worker is posted to serve a team. */
export interface ServePayload {
  memory: WebAssembly.Memory;
  heapId: number;
  fused: boolean;
  control: number;
  thread: number;
  /** How long the worker polls for a next job before sleeping. */
  spinMs: number;
}

export class SimdTeam {
  private readonly words: Int32Array;
  readonly params: JobParams;
  private generation = 0;
  /** Workers in the pool, each one thread of the team when serving. */
  private readonly workers: number;
  /**
   * How long threads poll before sleeping: not at all when the team has more threads than the
   * host has cores, where a polling thread would take a core from one still computing.
   */
  private readonly spinMs: number;

  constructor(
    readonly heap: SimdHeap,
    private readonly pool?: TaskPool,
  ) {
    this.workers = pool?.size ?? 0;
    const control = heap.allocate((SERVING + this.workers) * 4);
    this.words = heap.ints(control, SERVING + this.workers);
    this.words.fill(0);
    this.params = paramsAt(heap, control);
    this.spinMs = this.threads <= (pool?.cores ?? Infinity) ? SPIN_MS : 0;
  }

  /** Threads a job may run on: the caller and the pool's workers. */
  get threads(): number {
    return 1 + this.workers;
  }

  /** Runs the job whose parameters are in `params` as `chunks` chunks, on every thread. */
  run(kind: number, chunks: number): void {
    if (chunks > MAX_CHUNKS) throw new RangeError(`${chunks} chunks are too many for one job`);
    const words = this.words;
    words[KIND] = kind;
    Atomics.store(words, JOINED, 0);
    if (chunks === 1 || this.workers === 0) {
      for (let chunk = 0; chunk < chunks; chunk++) JOBS[kind](this.heap, this.params, chunk, 0);
      return;
    }
    this.start();
    this.generation = (this.generation + 1) & GENERATION_MASK;
    Atomics.store(words, FINISHED, 0);
    Atomics.store(words, FAILED, 0);
    Atomics.store(words, TOTAL, chunks);
    Atomics.store(words, CLAIM, this.generation << GENERATION_SHIFT);
    Atomics.notify(words, CLAIM);
    const error = work(this.heap, words, this.params, this.generation, 0);
    // Every chunk finishes before this returns, even after a failure: no thread may still be
    // writing when the caller moves on.
    spin(() => Atomics.load(words, FINISHED) === chunks, this.spinMs);
    for (let finished; (finished = Atomics.load(words, FINISHED)) < chunks;) {
      // Browsers' main threads may not wait; they keep polling.
      if (canWait()) Atomics.wait(words, FINISHED, finished, 5);
    }
    if (error) throw error;
    if (Atomics.load(words, FAILED)) throw new Error(`a worker failed in SIMD job ${kind}`);
  }

  /** Workers that took part in the last job (0: the calling thread ran it alone). */
  get joinedLastJob(): number {
    return Atomics.load(this.words, JOINED);
  }

  /**
   * Posts a serve task for every worker not serving yet. Jobs do so themselves; calling it
   * ahead (when a program loads) lets the workers start and load the kernels meanwhile, so
   * the first predictions have them.
   */
  start(): void {
    for (let i = 0; i < this.workers; i++) {
      if (Atomics.load(this.words, SERVING + i) === 1) continue;
      Atomics.store(this.words, SERVING + i, 1);
      const payload: ServePayload = {
        memory: this.heap.memory,
        heapId: this.heap.id,
        fused: this.heap.fused,
        control: this.words.byteOffset,
        thread: i + 1,
        spinMs: this.spinMs,
      };
      // A task that failed (a worker unable to run the kernels) is posted again at the next job.
      this.pool!.run(SERVE_TASK, payload).catch(() => Atomics.store(this.words, SERVING + i, 0));
    }
  }
}

function paramsAt(heap: SimdHeap, control: number): JobParams {
  const buffer = heap.memory.buffer;
  const offset = control + PARAMS * 4;
  return {
    ints: new Int32Array(buffer, offset, PARAM_WORDS),
    floats: new Float32Array(buffer, offset, PARAM_WORDS),
  };
}

let waitable: boolean | undefined;

/** Whether this thread may block on Atomics.wait (not a browser's main thread). */
function canWait(): boolean {
  if (waitable === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      waitable = true;
    } catch {
      waitable = false;
    }
  }
  return waitable;
}

/**
 * Claims and runs chunks of generation `generation` until none are left; returns the first
 * error a chunk threw (the chunk still counts as finished, and the job as failed).
 */
function work(
  heap: SimdHeap,
  words: Int32Array,
  params: JobParams,
  generation: number,
  thread: number,
): unknown {
  let error: unknown;
  const fromBack = (thread & 1) === 1;
  let joined = thread === 0;
  for (;;) {
    const claim = Atomics.load(words, CLAIM);
    if (claim >>> GENERATION_SHIFT !== generation) return error;
    const [front, back] = [(claim >>> FRONT_SHIFT) & CHUNK_MASK, claim & CHUNK_MASK];
    if (front + back >= Atomics.load(words, TOTAL)) return error;
    const taken = claim + (fromBack ? 1 : 1 << FRONT_SHIFT);
    if (Atomics.compareExchange(words, CLAIM, claim, taken) !== claim) continue;
    const total = Atomics.load(words, TOTAL);
    if (front + back >= total) return error;
    const chunk = fromBack ? total - 1 - back : front;
    if (!joined) {
      joined = true;
      Atomics.add(words, JOINED, 1);
    }
    try {
      JOBS[words[KIND]](heap, params, chunk, thread);
    } catch (thrown) {
      error ??= thrown;
      Atomics.store(words, FAILED, 1);
    }
    if (Atomics.add(words, FINISHED, 1) + 1 === total) Atomics.notify(words, FINISHED);
  }
}

/** Polls `done` for up to about `ms` milliseconds; whether it came true. */
function spin(done: () => boolean, ms: number): boolean {
  const until = performance.now() + ms;
  for (;;) {
    for (let polls = 0; polls < POLLS; polls++) if (done()) return true;
    if (performance.now() > until) return false;
  }
}

/**
 * A worker's side: takes chunks of every job posted to the control block, sleeping in
 * between, and returns once no job has come for a while.
 */
export function serve(heap: SimdHeap, control: number, thread: number, spinMs: number): void {
  const words = heap.ints(control, SERVING + thread);
  const params = paramsAt(heap, control);
  for (;;) {
    let claim = Atomics.load(words, CLAIM);
    const taken = ((claim >>> FRONT_SHIFT) & CHUNK_MASK) + (claim & CHUNK_MASK);
    let callerAway = false;
    if (taken < Atomics.load(words, TOTAL)) {
      const generation = claim >>> GENERATION_SHIFT;
      work(heap, words, params, generation, thread);
      // No chunk taken from the front: the caller did not run during the whole job, typically
      // because this thread, woken, took its core (the other one busy elsewhere). Polling would
      // keep it off its core that much longer (measured: 0.2 ms per job); sleep at once.
      claim = Atomics.load(words, CLAIM);
      callerAway =
        claim >>> GENERATION_SHIFT === generation && ((claim >>> FRONT_SHIFT) & CHUNK_MASK) === 0;
    }
    if (!callerAway && spin(() => Atomics.load(words, CLAIM) !== claim, spinMs)) continue;
    if (Atomics.wait(words, CLAIM, claim, IDLE_MS) === "timed-out") {
      Atomics.store(words, SERVING + thread - 1, 0);
      return;
    }
  }
}
