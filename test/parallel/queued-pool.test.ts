/**
 * The queue both worker pools share, on workers that only record what they are given: jobs go
 * in the order they came, each running worker holds one job ahead (none behind or as a serve
 * loop, but a serve loop behind one), and `start` boots every worker before any job.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { QueuedPool, type Slot } from "../../src/parallel/queued-pool.js";

class RecordingPool extends QueuedPool<number> {
  readonly posted: unknown[] = [];
  /** The worker each posted job went to. */
  readonly postedTo: number[] = [];

  protected spawn(): Slot<number> {
    const slot: Slot<number> = { worker: this.slots.length, ready: false, jobs: [] };
    this.slots.push(slot);
    return slot;
  }

  protected post(worker: number, _task: string, payload: unknown): void {
    this.posted.push(payload);
    this.postedTo.push(worker);
  }

  /** Worker `i` says it has started, or answers its job. */
  reply(i: number, ready = false): void {
    this.receive(this.slots[i], ready ? { ready: true } : { ok: true, value: undefined });
  }

  /** Worker `i` fails (before it said it had started, unless it had). */
  fail(i: number): void {
    this.lose(this.slots[i], new Error("no worker here"));
  }

  get started(): number {
    return this.slots.length;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

test("jobs go to idle workers in the order they came", async () => {
  const pool = new RecordingPool(1);
  const jobs = ["a", "b", "c"].map((name) => pool.run("palettizeGroups", name));
  pool.reply(0, true);
  for (let i = 0; i < jobs.length; i++) pool.reply(0);
  await Promise.all(jobs);
  assert.deepEqual(pool.posted, ["a", "b", "c"]);
});

test("start boots every worker before any job", () => {
  const pool = new RecordingPool(3);
  assert.equal(pool.started, 0);
  pool.start();
  assert.equal(pool.started, 3);
  pool.start();
  assert.equal(pool.started, 3);
});

test("each running worker holds a job ahead, and a reply settles its oldest job", async () => {
  const pool = new RecordingPool(2);
  pool.start();
  pool.reply(0, true);
  const settled: string[] = [];
  const jobs = ["a", "b", "c", "d", "e"].map((name) =>
    pool.run("palettizeGroups", name).then(() => settled.push(name)),
  );
  // Worker 1 is still starting: none is held ahead.
  assert.deepEqual(pool.posted, ["a"]);
  pool.reply(1, true);
  assert.deepEqual(pool.posted, ["a", "b", "c", "d"]);
  assert.deepEqual(pool.postedTo, [0, 1, 0, 1]);
  pool.reply(1);
  await jobs[1];
  assert.deepEqual(settled, ["b"]);
  assert.deepEqual(pool.postedTo, [0, 1, 0, 1, 1]);
  for (const worker of [0, 0, 1, 1]) pool.reply(worker);
  await Promise.all(jobs);
  assert.deepEqual(settled, ["b", "a", "c", "d", "e"]);
});

test("no job waits ahead behind a serve loop, nor is one held ahead", async () => {
  const pool = new RecordingPool(1);
  pool.start();
  pool.reply(0, true);
  const serving = pool.run("simdServe", "serve");
  const job = pool.run("palettizeGroups", "a");
  assert.deepEqual(pool.posted, ["serve"]);
  pool.reply(0);
  await serving;
  assert.deepEqual(pool.posted, ["serve", "a"]);
  const next = pool.run("simdServe", "serve again");
  assert.deepEqual(pool.posted, ["serve", "a"]);
  pool.reply(0);
  pool.reply(0);
  await Promise.all([job, next]);
  assert.deepEqual(pool.posted, ["serve", "a", "serve again"]);
});

test("a serve loop is posted at once behind another serve loop, which has left it", async () => {
  const pool = new RecordingPool(1);
  pool.start();
  pool.reply(0, true);
  const first = pool.run("simdServe", "serve");
  const second = pool.run("simdServe", "serve again");
  assert.deepEqual(pool.posted, ["serve", "serve again"]);
  const job = pool.run("palettizeGroups", "a");
  assert.deepEqual(pool.posted, ["serve", "serve again"]);
  pool.reply(0);
  await first;
  assert.deepEqual(pool.posted, ["serve", "serve again"]);
  pool.reply(0);
  await second;
  assert.deepEqual(pool.posted, ["serve", "serve again", "a"]);
  pool.reply(0);
  await job;
});

test("a serve loop goes to a worker still starting; other jobs wait until it is up", async () => {
  const pool = new RecordingPool(2);
  const serving = pool.run("simdServe", "serve");
  assert.deepEqual(pool.posted, ["serve"]);
  const job = pool.run("palettizeGroups", "a");
  assert.deepEqual(pool.posted, ["serve"]);
  assert.equal(pool.started, 2);
  pool.reply(1, true);
  assert.deepEqual(pool.posted, ["serve", "a"]);
  assert.deepEqual(pool.postedTo, [0, 1]);
  pool.reply(0, true);
  pool.reply(0);
  pool.reply(1);
  await Promise.all([serving, job]);
});

test("a serve loop is refused, not run on the calling thread, once workers cannot start", async () => {
  const warnings: string[] = [];
  const pool = new RecordingPool(1, (message) => warnings.push(message));
  const serving = pool.run("simdServe", "serve");
  pool.fail(0);
  await assert.rejects(serving, /no worker here/);
  assert.equal(warnings.length, 1);
  await assert.rejects(pool.run("simdServe", "serve again"), /simdServe needs a worker/);
  assert.deepEqual(pool.posted, ["serve"]);
});
