import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pruneConfig } from "../../src/cli/commands/prune.js";
import { ConfigError } from "../../src/errors.js";
import { loadModel } from "../../src/format/model.js";
import { REPO_ROOT } from "../support/paths.js";
import { casesNamed, opsByName } from "../support/sparse.js";

const CLI = join(REPO_ROOT, "dist/src/cli/main.js");

describe("prune command options", () => {
  it("map to coremltools' pruner configs", async () => {
    assert.deepEqual(await pruneConfig({ nM: "2:4" }), {
      globalConfig: {
        kind: "OpMagnitudePrunerConfig",
        nMRatio: [2, 4],
        dim: 1,
        weightThreshold: 2048,
      },
      opTypeConfigs: {},
      opNameConfigs: {},
    });
    const threshold = await pruneConfig({ threshold: "0.03" });
    assert.equal(threshold.globalConfig?.kind, "OpThresholdPrunerConfig");
  });

  it("reject bad values and mixed modes", async () => {
    for (const options of [
      { targetSparsity: "1.5" },
      { targetSparsity: "abc" },
      { nM: "4:2" },
      { nM: "2-4" },
      { targetSparsity: "0.5", blockSize: "3", dim: "2" },
      { threshold: "0.1", targetSparsity: "0.5" },
      { mode: "random" },
      { config: "x.yaml", threshold: "0.1" },
    ]) {
      await assert.rejects(pruneConfig(options), ConfigError, JSON.stringify(options));
    }
  });
});

describe("coreml-optimize prune", () => {
  const [golden] = casesNamed("prune_n2m4__zoo_fp16_ios18");
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "prune-cli-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("writes a pruned model and prints the summary", { skip: !golden }, async () => {
    const output = join(dir, "out.mlpackage");
    const run = spawnSync(
      process.execPath,
      [CLI, "prune", golden.basePath, "-o", output, "--n-m", "2:4", "--json"],
      {
        encoding: "utf8",
      },
    );
    assert.equal(run.status, 0, run.stderr);
    const summary = JSON.parse(run.stdout) as { weights: { name: string }[] };
    const model = await loadModel(output);
    const sparse = [...opsByName(model).values()].filter(
      (op) => op.type === "constexpr_sparse_to_dense",
    );
    assert.equal(sparse.length, summary.weights.length);
    assert.ok(sparse.length > 0);
    await model.close();
  });

  it("reports a bad option in one line", { skip: !golden }, () => {
    const run = spawnSync(
      process.execPath,
      [CLI, "prune", golden.basePath, "-o", join(dir, "bad.mlpackage"), "--target-sparsity", "2"],
      { encoding: "utf8" },
    );
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^coreml-optimize: --target-sparsity: .*\n$/);
  });
});
