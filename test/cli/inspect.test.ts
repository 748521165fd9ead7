import assert from "node:assert/strict";
import { cp, mkdtemp, rm, truncate } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { ModelSummary } from "../../src/analysis/inspect.js";
import { runCli } from "../support/cli.js";
import { GOLDEN } from "../support/paths.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-cli-test-"));
after(() => rm(work, { recursive: true, force: true }));

test("inspect --json describes inputs, ops and compressed weights", () => {
  const result = runCli(
    "inspect",
    join(GOLDEN, "cases/lq_int4_sym_perblock32__zoo_fp16_ios18.mlpackage"),
    "--json",
  );
  assert.equal(result.status, 0, result.stderr);
  const summary = JSON.parse(result.stdout) as ModelSummary;
  assert.equal(summary.format, "mlpackage");
  assert.equal(summary.specificationVersion, 9);
  assert.equal(summary.deploymentTarget, "iOS18");
  assert.deepEqual(
    summary.inputs.map((i) => i.name),
    ["img", "ids"],
  );
  assert.equal(summary.functions[0].opCounts["constexpr_blockwise_shift_scale"], 4);
  const fc2 = summary.weights.find((w) => w.name.startsWith("fc2_weight"))!;
  assert.deepEqual(fc2.shape, [200, 512]);
  assert.deepEqual(fc2.consumers, ["linear fc2_cast_fp16"]);
  assert.equal(fc2.storage[0].bits, 4);
  assert.equal(fc2.storage[0].granularity, "per-block [1,32]");
  assert.equal(fc2.storedBytes, 102400 / 2 + 200 * 16 * 2, "int4 data + fp16 scales");
  assert.equal(summary.totals.compressed, 4);
});

test("inspect prints a readable table", () => {
  const result = runCli("inspect", join(GOLDEN, "cases/prune_threshold__zoo_fp16_ios16.mlpackage"));
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /specification version 7 \(iOS16\)/);
  assert.match(
    result.stdout,
    /fc2_weight\S*\s+linear fc2_cast_fp16\s+fp16\s+\[200,512\]\s+sparse \d+\.\d%/,
  );
});

test("a truncated weight file gives one line on stderr and exit code 1", async () => {
  const copy = join(work, "truncated.mlpackage");
  await cp(join(GOLDEN, "bases/zoo_fp16_ios18.mlpackage"), copy, { recursive: true });
  await truncate(join(copy, "Data/com.apple.CoreML/weights/weight.bin"), 30);
  const result = runCli("inspect", copy);
  assert.equal(result.status, 1);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.match(result.stderr, /weight\.bin: weight file is 30 bytes/);
});

test("a missing model is a one-line error", () => {
  const result = runCli("inspect", join(work, "absent.mlpackage"));
  assert.equal(result.status, 1);
  assert.match(result.stderr, /^coreml-optimize: .*absent\.mlpackage: no such file or folder\n$/);
});

test("inspect --weights lists value statistics and child ops", () => {
  const result = runCli(
    "inspect",
    join(GOLDEN, "bases/zoo_fp16_ios18.mlpackage"),
    "--weights",
    "--json",
  );
  assert.equal(result.status, 0, result.stderr);
  const rows = JSON.parse(result.stdout) as {
    name: string;
    shape: number[];
    uniqueValues: number;
    childOps: { type: string }[];
  }[];
  const fc2 = rows.find((r) => r.name === "fc2_weight_0_to_fp16")!;
  assert.deepEqual(fc2.shape, [200, 512]);
  assert.deepEqual(
    fc2.childOps.map((c) => c.type),
    ["linear"],
  );
  assert.ok(rows.every((r) => r.shape.reduce((a, b) => a * b, 1) > 2048));
  const bad = runCli(
    "inspect",
    join(GOLDEN, "bases/zoo_fp16_ios18.mlpackage"),
    "--weights",
    "--weight-threshold",
    "-3",
  );
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--weight-threshold: expected a whole number of at least 0, got "-3"/);
});
