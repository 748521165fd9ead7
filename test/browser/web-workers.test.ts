/**
 * The browser entry's Web Worker pool, run here on Node through the `web-worker` package (the
 * Web Worker API over worker threads): palettizing on it gives the same model as inline, and a
 * failing task rejects with the worker's error.
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

test("palettizing on a pool of Web Workers gives the model palettizing inline gives", async () => {
  let started = 0;
  const pool = new WebWorkerPool(2, (url) => {
    started++;
    return new WebWorker(url, { type: "module" }) as unknown as WebWorkerLike;
  });
  const model = await loadModelFromFiles(readTree(PACKAGE));
  const config = parseOptimizationConfig({
    config_type: "OpPalettizerConfig",
    global_config: { nbits: 3, granularity: "per_grouped_channel", group_size: 8 },
  }) as OptimizationConfig<OpPalettizerConfig>;
  try {
    const pooled = await palettizeWeights(model, config, { pool });
    const inline = await palettizeWeights(model, config, { workers: 0 });
    assert.ok(started > 0, "no worker was started");
    const [a, b] = await Promise.all([modelToFiles(pooled.model), modelToFiles(inline.model)]);
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    for (const [name, bytes] of a) assert.deepEqual(bytes, b.get(name), name);
    await assert.rejects(pool.run("no such task", {}), /unknown worker task no such task/);
  } finally {
    await pool.close();
    await model.close();
  }
});
