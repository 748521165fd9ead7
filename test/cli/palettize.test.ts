import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { palettizerConfig } from "../../src/config/palettizer.js";
import { ConfigError } from "../../src/errors.js";
import { loadModel } from "../../src/format/model.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { IOS16_PALETTE_NBITS, nbitsForDistinct } from "../../src/kernels/palettize/modes.js";
import { opName } from "../../src/program/ops.js";
import { allOperations } from "../../src/program/walk.js";
import { goldenPath } from "../support/golden.js";
import { REPO_ROOT } from "../support/paths.js";

const BASE = goldenPath("bases/zoo_fp16_ios18.mlpackage");
const CLI = join(REPO_ROOT, "dist/src/cli/main.js");

function run(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
}

test("config errors name the field", () => {
  assert.throws(() => palettizerConfig({ nbits: 5 }), /nbits: expected one of 1, 2, 3, 4, 6, 8/);
  assert.throws(
    () => palettizerConfig({ mode: "unique", nbits: 4 }),
    /must not be given in unique/,
  );
  assert.throws(() => palettizerConfig({ mode: "kmeans" }), /nbits: is required/);
  assert.throws(() => palettizerConfig({ mode: "custom" }), /needs a lut_function/);
  assert.throws(
    () => palettizerConfig({ mode: "uniform", nbits: 2, clusterDim: 2 }),
    /does not support uniform/,
  );
});

test("custom lut functions: used as given, wrong shapes refused", async () => {
  const model = await loadModel(BASE);
  try {
    const sign = (w: Float64Array) => ({
      lut: [-0.1, 0.1],
      indices: Array.from(w, (x) => (x < 0 ? 0 : 1)),
    });
    const { model: out, weights } = await palettizeWeights(
      model,
      { globalConfig: palettizerConfig({ mode: "custom", lutFunction: sign }) },
      { workers: 0 },
    );
    assert.equal(weights.length, 8);
    const types = [...allOperations(out.spec.Type.value as never)].map((s) => s.op.type);
    assert.equal(types.filter((t) => t === "constexpr_lut_to_dense").length, 8);
    await out.close();

    const short = (w: Float64Array) => ({
      lut: [0, 1],
      indices: Array.from(w)
        .slice(1)
        .map(() => 0),
    });
    await assert.rejects(
      palettizeWeights(
        model,
        { globalConfig: palettizerConfig({ mode: "custom", lutFunction: short }) },
        { workers: 0 },
      ),
      (e: Error) => e instanceof ConfigError && /indices for \d+ points/.test(e.message),
    );
    const odd = (w: Float64Array) => ({ lut: [0, 1, 2], indices: Array.from(w, () => 0) });
    await assert.rejects(
      palettizeWeights(
        model,
        { globalConfig: palettizerConfig({ mode: "custom", lutFunction: odd }) },
        { workers: 0 },
      ),
      /returned 3 table values/,
    );
  } finally {
    await model.close();
  }
});

test("CLI palettizes with workers and reports bad flags in one line", () => {
  const dir = mkdtempSync(join(tmpdir(), "pal-cli-"));
  try {
    const out = join(dir, "out.mlpackage");
    const ok = run(
      "palettize",
      BASE,
      "-o",
      out,
      "--nbits",
      "4",
      "--granularity",
      "per_grouped_channel",
      "--group-size",
      "16",
      "--json",
      "--workers",
      "2",
    );
    assert.equal(ok.status, 0, ok.stderr);
    const report = JSON.parse(ok.stdout) as { weights: { name: string; bytesAfter: number }[] };
    assert.ok(report.weights.length >= 4);

    const lut = join(dir, "lut.mjs");
    writeFileSync(
      lut,
      "export default (w) => ({ lut: [0, 1], indices: Array.from(w, (x) => (x > 0 ? 1 : 0)) });\n",
    );
    const custom = run("palettize", BASE, "-o", out, "--lut-function", lut, "-q");
    assert.equal(custom.status, 0, custom.stderr);

    for (const [args, message] of [
      [["--nbits", "5"], /nbits: expected one of/],
      [["--mode", "unique", "--nbits", "4"], /must not be given in unique mode/],
      [["--nbits", "2", "--cluster-dim", "3"], /not divisible by cluster_dim 3/],
    ] as const) {
      const bad = run("palettize", BASE, "-o", out, ...args);
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, message);
      assert.equal(bad.stderr.trim().split("\n").length, 1);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("iOS16 models refuse what the iOS16 op cannot hold", async () => {
  const model = await loadModel(goldenPath("bases/zoo_fp16_ios16.mlpackage"));
  try {
    await assert.rejects(
      palettizeWeights(
        model,
        { globalConfig: palettizerConfig({ nbits: 2, clusterDim: 2 }) },
        { workers: 0 },
      ),
      /vector palettization \(cluster_dim > 1\) needs iOS18/,
    );
    const { model: raised } = await palettizeWeights(
      model,
      { globalConfig: palettizerConfig({ nbits: 2, clusterDim: 2 }) },
      { workers: 0, raiseTarget: "iOS18" },
    );
    assert.equal(raised.spec.specificationVersion, 9);
    const names = [...allOperations(raised.spec.Type.value as never)].map((s) => opName(s.op));
    assert.ok(names.includes("conv1_weight_0_to_fp16_palettized"));
    await raised.close();
    // iOS16's table holds 2, 4, 16, 64 or 256 entries: 3 bits need iOS18 (found by fuzzing).
    await assert.rejects(
      palettizeWeights(model, { globalConfig: palettizerConfig({ nbits: 3 }) }, { workers: 0 }),
      /3-bit palettization needs iOS18/,
    );
    // Unique mode picks a width the target can index: 4 bits for 5 to 16 distinct values.
    assert.equal(nbitsForDistinct(5, IOS16_PALETTE_NBITS), 4);
    assert.equal(nbitsForDistinct(5), 3);
  } finally {
    await model.close();
  }
});
