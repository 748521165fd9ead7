/**
 * The queue both worker pools share, on workers that only record what they are given: jobs go
 * in the order they came, and `start` boots every worker before any job.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { QueuedPool, type Slot } from "../../src/parallel/queued-pool.js";

class RecordingPool extends QueuedPool<number> {
  readonly posted: unknown[] = [];

  protected spawn(): Slot<number> {
    const slot: Slot<number> = { worker: this.slots.length, ready: false };
    this.slots.push(slot);
    return slot;
  }

  protected post(_worker: number, _task: string, payload: unknown): void {
    this.posted.push(payload);
  }

  /** Worker `i` says it has started, or answers its job. */
  reply(i: number, ready = false): void {
    this.receive(this.slots[i], ready ? { ready: true } : { ok: true, value: undefined });
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
