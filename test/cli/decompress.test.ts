import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { cp, mkdtemp, readdir, rm, stat, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { CommandReport } from "../../src/cli/report.js";
import { loadModel } from "../../src/format/model.js";
import { allOperations } from "../../src/program/walk.js";
import { runCli } from "../support/cli.js";
import { GOLDEN } from "../support/paths.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-decompress-cli-"));
after(() => rm(work, { recursive: true, force: true }));
const CASE = join(GOLDEN, "cases/joint_prune50_pal4__zoo_fp16_ios18.mlpackage");
const WEIGHTS = "Data/com.apple.CoreML/weights/weight.bin";

test("decompress writes a model without constexpr ops and reports what it did", async () => {
  const output = join(work, "dense.mlpackage");
  const result = runCli("decompress", CASE, "-o", output, "--json");
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as CommandReport;
  assert.equal(report.command, "decompress");
  assert.equal(report.weights.length, 8);
  for (const weight of report.weights) {
    assert.deepEqual(weight.config, { decompressed_from: "constexpr_sparse_to_dense" });
    assert.ok(weight.bytesAfter > weight.bytesBefore, weight.name);
  }
  const model = await loadModel(output);
  assert.equal(model.spec.Type.case, "mlProgram");
  const types = [...allOperations(model.spec.Type.value)].map((s) => s.op.type);
  assert.ok(!types.some((t) => t.startsWith("constexpr_")));
  await model.close();
  const text = runCli("decompress", CASE, "-o", join(work, "dense2.mlpackage"));
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /decompressed 8 weights, left 0 alone/);
});

test("a truncated weight file fails with one line and leaves no output", async () => {
  const broken = join(work, "broken.mlpackage");
  await cp(CASE, broken, { recursive: true });
  const weights = join(broken, WEIGHTS);
  await truncate(weights, Math.floor((await stat(weights)).size / 2));
  const output = join(work, "never.mlpackage");
  const result = runCli("decompress", broken, "-o", output);
  assert.equal(result.status, 1);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(result.stderr, /^coreml-optimize: /);
  assert.equal(existsSync(output), false);
  assert.deepEqual(
    (await readdir(work)).filter((name) => name.includes("never")),
    [],
  );
});
