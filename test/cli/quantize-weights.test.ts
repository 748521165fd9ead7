import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { quantizeWeightsSettings } from "../../src/cli/commands/quantize-weights.js";
import { ConfigError } from "../../src/errors.js";
import { innerProduct } from "../support/neural-networks.js";
import { GOLDEN, REPO_ROOT } from "../support/paths.js";

const CLI = join(REPO_ROOT, "dist/src/cli/main.js");
const BASE = join(GOLDEN, "bases/nn.mlmodel");

describe("quantize-weights options", () => {
  it("choose the advanced selector only when one of its options is given", () => {
    assert.equal(quantizeWeightsSettings({ nbits: "8" }).selector, undefined);
    const { selector, mode, nbits } = quantizeWeightsSettings({
      nbits: "4",
      mode: "kmeans_lut",
      skipLayerTypes: "innerProduct, bias",
    });
    assert.equal(nbits, 4);
    assert.equal(mode, "kmeans_lut");
    assert.equal(selector!(innerProduct("ip", "x", "y", 2, 2)), false);
  });

  it("reject bad values", () => {
    for (const options of [
      { nbits: "four" },
      { nbits: "8", mode: "cubic" },
      { nbits: "8", mode: "custom_lut" },
      { nbits: "8", skipLayerTypes: "pooling" },
      { nbits: "8", minimumConvWeightCount: "-1" },
    ]) {
      assert.throws(() => quantizeWeightsSettings(options), ConfigError, JSON.stringify(options));
    }
  });
});

describe("coreml-optimize quantize-weights", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "quantize-weights-cli-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const expected = join(GOLDEN, "cases/nn_linear4.mlmodel");
  it(
    "writes what coremltools writes and prints a JSON summary",
    { skip: !existsSync(expected) },
    () => {
      const output = join(dir, "out.mlmodel");
      const run = spawnSync(
        process.execPath,
        [CLI, "quantize-weights", BASE, "-o", output, "--nbits", "4", "--json"],
        {
          encoding: "utf8",
        },
      );
      assert.equal(run.status, 0, run.stderr);
      assert.ok(readFileSync(output).equals(readFileSync(expected)));
      const report = JSON.parse(run.stdout) as {
        weights: { name: string; bytesBefore: number; bytesAfter: number }[];
      };
      assert.deepEqual(
        report.weights.map((w) => w.name),
        ["ip/weights", "ip/bias", "conv/weights", "conv/bias", "emb/weights"],
      );
      assert.equal(report.weights[0].bytesBefore, 131072 * 4);
      assert.equal(report.weights[0].bytesAfter, 131072 / 2 + 256 * 2 * 4);
    },
  );

  it("sends ML programs to `quantize` with a one-line error", () => {
    const program = join(GOLDEN, "bases/zoo_fp16_ios18.mlpackage");
    const run = spawnSync(
      process.execPath,
      [CLI, "quantize-weights", program, "-o", join(dir, "x.mlpackage"), "--nbits", "8"],
      {
        encoding: "utf8",
      },
    );
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^coreml-optimize: .*ML program: use `quantize`/);
    assert.equal(run.stderr.trim().split("\n").length, 1);
  });
});
