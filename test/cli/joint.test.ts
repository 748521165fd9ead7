import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadModel } from "../../src/format/model.js";
import { allOperations } from "../../src/program/walk.js";
import { REPO_ROOT } from "../support/paths.js";

const MAIN = join(REPO_ROOT, "dist/src/cli/main.js");
const BASE = join(REPO_ROOT, "fixtures/golden/bases/zoo_fp16_ios18.mlpackage");

function run(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });
}

async function opTypes(path: string): Promise<Set<string>> {
  const model = await loadModel(path);
  try {
    assert.equal(model.spec.Type.case, "mlProgram");
    return new Set([...allOperations(model.spec.Type.value)].map(({ op }) => op.type));
  } finally {
    await model.close();
  }
}

test(
  "--joint quantizes and palettizes a pruned model's kept values",
  { skip: !existsSync(BASE) },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "cli-joint-"));
    const pruned = join(dir, "pruned.mlpackage");
    const pruning = run("prune", BASE, "-o", pruned, "--target-sparsity", "0.5", "--json");
    assert.equal(pruning.status, 0, pruning.stderr);

    const quantized = join(dir, "quantized.mlpackage");
    const quantizing = run("quantize", pruned, "-o", quantized, "--joint", "--json");
    assert.equal(quantizing.status, 0, quantizing.stderr);
    const report = JSON.parse(quantizing.stdout) as { weights: { name: string }[] };
    assert.ok(
      report.weights.some((w) => w.name === "fc1_weight_0_to_fp16_sparsified_nonzero_data_0"),
    );
    assert.ok((await opTypes(quantized)).has("constexpr_sparse_blockwise_shift_scale"));

    const palettized = join(dir, "palettized.mlpackage");
    const palettizing = run("palettize", pruned, "-o", palettized, "--nbits", "4", "--joint", "-q");
    assert.equal(palettizing.status, 0, palettizing.stderr);
    assert.ok((await opTypes(palettized)).has("constexpr_lut_to_sparse"));
  },
);

test(
  "--joint on an uncompressed model fails with one line",
  { skip: !existsSync(BASE) },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "cli-joint-"));
    const out = join(dir, "out.mlpackage");
    const result = run("quantize", BASE, "-o", out, "--joint");
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /^coreml-optimize: joint compression .* needs a compressed model.*\n$/,
    );
    assert.ok(!existsSync(out));
  },
);
