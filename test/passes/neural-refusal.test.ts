import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import {
  linearQuantizerConfig,
  palettizerConfig,
  thresholdPrunerConfig,
} from "../../src/config/index.js";
import { UnsupportedError } from "../../src/errors.js";
import { MLModel } from "../../src/format/model.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { pruneWeights } from "../../src/passes/prune.js";
import { innerProduct, neuralNetworkModel } from "../support/neural-networks.js";
import { GOLDEN, REPO_ROOT } from "../support/paths.js";

const pointsToQuantizeWeights = (e: Error) =>
  e instanceof UnsupportedError && /neural-network model: use `quantize-weights`/.test(e.message);

test("ML program passes send neural networks to quantize-weights", async () => {
  const model = new MLModel(neuralNetworkModel([innerProduct("ip", "x", "y", 64, 64)]));
  await assert.rejects(
    linearQuantizeWeights(model, { globalConfig: linearQuantizerConfig() }),
    pointsToQuantizeWeights,
  );
  await assert.rejects(
    palettizeWeights(model, { globalConfig: palettizerConfig({ nbits: 4 }) }, { workers: 0 }),
    pointsToQuantizeWeights,
  );
  await assert.rejects(
    pruneWeights(model, { globalConfig: thresholdPrunerConfig() }),
    pointsToQuantizeWeights,
  );
});

test("quantize, palettize and prune commands say so in one line", () => {
  const cli = join(REPO_ROOT, "dist/src/cli/main.js");
  const input = join(GOLDEN, "bases/nn.mlmodel");
  for (const args of [["quantize"], ["palettize", "--nbits", "4"], ["prune"]]) {
    const run = spawnSync(
      process.execPath,
      [cli, args[0], input, "-o", "/nonexistent/x.mlmodel", ...args.slice(1)],
      {
        encoding: "utf8",
      },
    );
    assert.equal(run.status, 1, args[0]);
    assert.match(run.stderr, /^coreml-optimize: \w+ compresses ML programs; .*`quantize-weights`/);
    assert.equal(run.stderr.trim().split("\n").length, 1);
  }
});
