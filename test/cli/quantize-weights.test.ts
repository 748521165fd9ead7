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

  it("skip layers by name, on top of the other selector options", () => {
    const { selector, skipLayers } = quantizeWeightsSettings({
      nbits: "8",
      skipLayers: "ip, other",
    });
    assert.deepEqual(skipLayers, ["ip", "other"]);
    assert.equal(selector!(innerProduct("ip", "x", "y", 2, 2)), false);
    assert.equal(selector!(innerProduct("kept", "x", "y", 2, 2)), true);
  });

  it("reject bad values", () => {
    for (const options of [
      { nbits: "four" },
      { nbits: "8", mode: "cubic" },
      { nbits: "8", mode: "custom_lut" },
      { nbits: "8", skipLayerTypes: "pooling" },
      { nbits: "8", minWeightCount: "-1" },
      { nbits: "8", minConvChannels: "x" },
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

  it("names --skip-layers entries the model lacks, and notes kept weights", () => {
    const bad = spawnSync(
      process.execPath,
      [CLI, "quantize-weights", BASE, "-o", join(dir, "y.mlmodel"), "--nbits", "8"].concat([
        "--skip-layers",
        "ip,nope",
      ]),
      { encoding: "utf8" },
    );
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--skip-layers: the model has no layer named nope/);
    const first = join(dir, "first.mlmodel");
    const skip = ["--skip-layers", "ip", "--min-weight-count", "0", "--min-conv-channels", "1"];
    const run = (input: string, output: string, nbits: string, extra: string[] = []) =>
      spawnSync(
        process.execPath,
        [CLI, "quantize-weights", input, "-o", output, "--nbits", nbits, "--json", ...extra],
        { encoding: "utf8" },
      );
    const once = run(BASE, first, "8", skip);
    assert.equal(once.status, 0, once.stderr);
    type Report = {
      weights: { name: string; config: Record<string, unknown> }[];
      skipped: { name: string; reason: string }[];
    };
    const once_ = JSON.parse(once.stdout) as Report;
    assert.ok(once_.skipped.some((s) => s.name === "ip/weights" && /not selected/.test(s.reason)));
    assert.deepEqual(once_.weights.find((w) => w.name === "conv/weights")!.config, {
      config_type: "quantize_weights",
      mode: "linear",
      nbits: 8,
    });
    const twice = run(first, join(dir, "second.mlmodel"), "4");
    assert.equal(twice.status, 0, twice.stderr);
    const second = JSON.parse(twice.stdout) as Report;
    assert.deepEqual(
      second.weights.map((w) => w.name),
      ["ip/weights", "ip/bias"],
    );
    assert.deepEqual(
      second.skipped.map((s) => [s.name, s.reason]),
      [
        ["conv/weights", "already quantized"],
        ["conv/bias", "already quantized"],
        ["emb/weights", "already quantized"],
      ],
    );
  });

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
