/** The README's API walk-through, run against a shipped fixture through the package entry. */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  compressionUtils,
  decompressWeights,
  getWeightsMetadata,
  inspectModel,
  linearQuantizeWeights,
  linearQuantizerConfig,
  loadConfigFile,
  loadModel,
  magnitudePrunerConfig,
  palettizeWeights,
  palettizerConfig,
  pruneWeights,
} from "../src/index.js";
import { GOLDEN } from "./support/paths.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-api-test-"));
after(() => rm(work, { recursive: true, force: true }));

test("the README's API example works as written", async () => {
  const model = await loadModel(join(GOLDEN, "bases/zoo_fp16_ios18.mlpackage"));
  const { model: int4, weights } = await linearQuantizeWeights(model, {
    globalConfig: linearQuantizerConfig({ dtype: "int4", granularity: "per_block", blockSize: 32 }),
    opTypeConfigs: { gather: null },
  });
  await int4.save(join(work, "model-int4.mlpackage"));
  assert.ok(weights.length > 0 && weights.every((w) => w.bytesAfter < w.bytesBefore));
  assert.ok(!weights.some((w) => w.name.startsWith("emb")), "gather weights skipped");

  const palettized = await palettizeWeights(model, {
    globalConfig: palettizerConfig({ nbits: 4 }),
  });
  const pruned = await pruneWeights(model, {
    globalConfig: magnitudePrunerConfig({ targetSparsity: 0.5 }),
  });
  const dense = await decompressWeights(int4);
  assert.ok(palettized.weights.length > 0 && pruned.weights.length > 0);
  assert.equal((await inspectModel(dense)).totals.compressed, 0);
  assert.equal((await inspectModel(int4)).totals.compressed, weights.length);
  assert.ok((await getWeightsMetadata(model)).size > 0);

  const file = join(work, "config.yaml");
  await writeFile(file, "config_type: OpLinearQuantizerConfig\nglobal_config:\n  dtype: int8\n");
  assert.equal((await loadConfigFile(file)).globalConfig?.kind, "OpLinearQuantizerConfig");

  const q = await compressionUtils.affineQuantizeWeights(model, {
    mode: "linear",
    opSelector: (op) => op.shape.reduce((a, b) => a * b, 1) > 4096 && !op.name.includes("emb"),
  });
  assert.ok((await inspectModel(q)).totals.compressed > 0);

  for (const m of [palettized.model, pruned.model, dense, int4, q, model]) await m.close();
});
