import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadModel } from "../../src/format/model.js";
import { REPO_ROOT } from "../support/paths.js";

const MAIN = join(REPO_ROOT, "dist/src/cli/main.js");
const BASE = join(REPO_ROOT, "fixtures/golden/bases/zoo_fp16_ios16.mlpackage");

function run(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, "quantize", ...args], { encoding: "utf8" });
}

test(
  "quantize writes a model and reports each weight as JSON",
  { skip: !existsSync(BASE) },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "cli-q-"));
    const config = join(dir, "q.yaml");
    await writeFile(
      config,
      "config_type: OpLinearQuantizerConfig\nglobal_config:\n  dtype: uint8\nop_type_configs:\n  gather: null\n",
    );
    const out = join(dir, "out.mlpackage");
    const result = run(
      BASE,
      "-o",
      out,
      "--config",
      config,
      "--op-name",
      "fc2_cast_fp16=skip",
      "--json",
    );
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      weights: { name: string; config: { dtype: string } }[];
    };
    const names = report.weights.map((w) => w.name);
    assert.ok(names.includes("fc1_weight_0_to_fp16"));
    assert.ok(!names.includes("fc2_weight_0_to_fp16") && !names.includes("emb_x_0_to_fp16"));
    assert.ok(report.weights.every((w) => w.config.dtype === "uint8"));
    const model = await loadModel(out);
    assert.equal(model.spec.specificationVersion, 7);
    await model.close();
  },
);

test(
  "quantize fails with one line for bad options and iOS16 4-bit",
  { skip: !existsSync(BASE) },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "cli-q-"));
    const out = join(dir, "out.mlpackage");
    const int4 = run(BASE, "-o", out, "--dtype", "int4");
    assert.equal(int4.status, 1);
    assert.match(
      int4.stderr,
      /^coreml-optimize: weight \S+: 4-bit quantization needs iOS18.*--target ios18, API raiseTarget: "iOS18"\)\n$/,
    );
    assert.ok(!existsSync(out), "no output on failure");
    const bad = run(BASE, "-o", out, "--granularity", "per_block", "--block-size", "0");
    assert.match(bad.stderr, /--block-size: must be at least 1/);
    const raised = run(BASE, "-o", out, "--dtype", "int4", "--target", "ios18", "-q");
    assert.equal(raised.status, 0, raised.stderr);
    assert.match(raised.stdout, /model size [\d.]+ KiB -> [\d.]+ KiB/);
  },
);
