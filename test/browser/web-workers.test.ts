/**
 * The browser entry's Web Worker pool, run here on Node through the `web-worker` package (the
 * Web Worker API over worker threads): palettizing on it gives the same model as inline, one
 * pool serves several calls, failing tasks reject with the worker's own message and stack, and
 * a pool whose workers cannot start runs its jobs on the calling thread after one warning.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import test from "node:test";
import WebWorker from "web-worker";
import {
  loadModelFromFiles,
  modelToFiles,
  palettizeWeights,
  parseOptimizationConfig,
  WebWorkerPool,
  type OpPalettizerConfig,
  type OptimizationConfig,
  type WebWorkerLike,
} from "../../src/browser.js";
import { readTree } from "../support/files.js";
import { FIXTURES } from "../support/paths.js";

const PACKAGE = join(FIXTURES, "golden/bases/zoo_fp16_ios18.mlpackage");

const CONFIG = parseOptimizationConfig({
  config_type: "OpPalettizerConfig",
  global_config: { nbits: 3, granularity: "per_grouped_channel", group_size: 8 },
}) as OptimizationConfig<OpPalettizerConfig>;

/**
 * What a browser's Worker does when its script cannot be fetched: an error event, without a
 * message, once the load has failed.
 */
function unloadableWorker(): WebWorkerLike {
  const onError: ((event: { message?: string }) => void)[] = [];
  setTimeout(() => onError.forEach((listener) => listener({})), 5);
  return {
    postMessage: () => assert.fail("nothing is posted to a worker that has not started"),
    addEventListener: (type: string, listener: (event: { message?: string }) => void) => {
      if (type === "error") onError.push(listener);
    },
    terminate: () => {},
  } as unknown as WebWorkerLike;
}

/** A pool of `size` workers over worker threads (or broken ones), counting those it starts. */
function nodePool(size: number, start = (url: URL) => new WebWorker(url, { type: "module" })) {
  const started: URL[] = [];
  const warnings: string[] = [];
  const pool = new WebWorkerPool(size, {
    createWorker: (url) => {
      started.push(url);
      return start(url) as unknown as WebWorkerLike;
    },
    warn: (message) => warnings.push(message),
  });
  return { pool, started, warnings };
}

async function sameFiles(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>) {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, bytes] of a) assert.deepEqual(bytes, b.get(name), name);
}

test("palettizing on a pool of Web Workers gives the model palettizing inline gives", async () => {
  const { pool, started, warnings } = nodePool(2);
  const model = await loadModelFromFiles(readTree(PACKAGE));
  try {
    const inline = await palettizeWeights(model, CONFIG, { workers: 0 });
    const pooled = await palettizeWeights(model, CONFIG, { pool });
    assert.ok(started.length > 0, "no worker was started");
    await sameFiles(await modelToFiles(pooled.model), await modelToFiles(inline.model));
    // The same pool serves the next call with the workers it has.
    const workers = started.length;
    const again = await palettizeWeights(model, CONFIG, { pool });
    assert.equal(started.length, workers);
    await sameFiles(await modelToFiles(again.model), await modelToFiles(inline.model));
    assert.deepEqual(warnings, []);
  } finally {
    await pool.close();
    await model.close();
  }
});

test("a failing task rejects with the worker's message, its stack apart", async () => {
  const { pool } = nodePool(1);
  try {
    await assert.rejects(pool.run("no such task" as never, {}), (error: Error) => {
      assert.equal(error.message, "unknown worker task no such task");
      return true;
    });
    // A kernel that throws on a payload it cannot read (no weight to prune).
    await assert.rejects(pool.run("prune", { spec: {} }), (error: Error) => {
      assert.equal(error.name, "TypeError");
      assert.doesNotMatch(error.message, /^\w*Error:/);
      assert.equal(error.message.split("\n").length, 1);
      // The stack is the worker's: it names the kernel that threw.
      assert.match(error.stack ?? "", /prune/);
      return true;
    });
  } finally {
    await pool.close();
  }
});

test("jobs run on the calling thread, after one warning, when workers cannot start", async () => {
  const { pool, started, warnings } = nodePool(2, unloadableWorker);
  const model = await loadModelFromFiles(readTree(PACKAGE));
  try {
    const pooled = await palettizeWeights(model, CONFIG, { pool });
    const inline = await palettizeWeights(model, CONFIG, { workers: 0 });
    assert.ok(started.length > 0);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /could not start \(the worker script did not load\).*calling thread/);
    await sameFiles(await modelToFiles(pooled.model), await modelToFiles(inline.model));
  } finally {
    await pool.close();
    await model.close();
  }
});
