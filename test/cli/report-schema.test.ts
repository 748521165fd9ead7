/**
 * One report for every command that writes a model: the same JSON fields (README, "Reports,
 * JSON output and exit statuses"), the reasons for weights left alone, and exit status 3 when
 * nothing changed.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runCli } from "../support/cli.js";
import { FIXTURES } from "../support/paths.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-report-"));
after(() => rm(work, { recursive: true, force: true }));

const PROGRAM = join(FIXTURES, "golden/bases/zoo_fp16_ios18.mlpackage");
const COMPRESSED = join(FIXTURES, "golden/cases/lq_int8_sym_perchannel__zoo_fp16_ios18.mlpackage");
const NETWORK = join(FIXTURES, "golden/bases/nn.mlmodel");

const RUNS: Record<string, string[]> = {
  quantize: ["quantize", PROGRAM],
  palettize: ["palettize", PROGRAM, "--nbits", "4"],
  prune: ["prune", PROGRAM, "--target-sparsity", "0.5"],
  "quantize-weights": ["quantize-weights", NETWORK, "--nbits", "8"],
  "quantize-activations": ["quantize-activations", PROGRAM, "--samples", "2"],
  decompress: ["decompress", COMPRESSED],
};

interface Report {
  command: string;
  input: string;
  output: string | null;
  dryRun: boolean;
  sizeBefore: number;
  sizeAfter: number;
  weights: {
    name: string;
    shape: number[];
    config: Record<string, unknown>;
    bytesBefore: number;
    bytesAfter: number;
    snrDb: number | string | null;
  }[];
  skipped: { name: string; reason: string }[];
  warnings: string[];
}

for (const [command, args] of Object.entries(RUNS)) {
  test(`${command} --json --dry-run prints the shared report and writes nothing`, () => {
    const output = join(work, `${command}.out`);
    const result = runCli(...args, "-o", output, "--dry-run", "--json");
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Report;
    assert.equal(report.command, command);
    assert.equal(report.input, args[1]);
    assert.equal(report.output, null);
    assert.equal(report.dryRun, true);
    assert.ok(report.sizeBefore > 0 && report.sizeAfter > 0);
    assert.ok(Array.isArray(report.skipped) && Array.isArray(report.warnings));
    for (const s of report.skipped) assert.ok(s.name && s.reason, JSON.stringify(s));
    if (command !== "quantize-activations") assert.ok(report.weights.length > 0);
    for (const w of report.weights) {
      assert.equal(typeof w.name, "string");
      assert.ok(w.shape.length > 0 && w.shape.every(Number.isInteger), `${w.name} shape`);
      assert.equal(typeof w.config, "object");
      assert.ok(w.bytesBefore > 0 && w.bytesAfter > 0, w.name);
      assert.ok(
        w.snrDb === null || typeof w.snrDb === "number" || ["inf", "-inf", "nan"].includes(w.snrDb),
      );
    }
    assert.equal(existsSync(output), false);
  });
}

test("weights left alone are listed with their reasons", () => {
  const result = runCli(
    "quantize",
    PROGRAM,
    "-o",
    join(work, "blocks.mlpackage"),
    "--dtype",
    "int4",
    "--granularity",
    "per_block",
    "--block-size",
    "32",
    "--dry-run",
    "--json",
  );
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Report;
  assert.ok(report.weights.length > 0);
  assert.ok(report.skipped.length > 0, "some weights have an axis 32 does not divide");
  assert.ok(
    report.skipped.some((s) => /block size 32 does not divide/.test(s.reason)),
    JSON.stringify(report.skipped),
  );
});

test("a run that changes nothing exits 3 with the likely fix, and --allow-empty makes it 0", () => {
  const output = join(work, "again.mlpackage");
  const empty = runCli("quantize", COMPRESSED, "-o", output);
  assert.equal(empty.status, 3, empty.stderr);
  assert.match(empty.stderr, /--joint/);
  assert.match(empty.stdout, /; nothing written\n/);
  assert.equal(existsSync(output), false);
  const allowed = runCli("quantize", COMPRESSED, "-o", output, "--allow-empty", "--json");
  assert.equal(allowed.status, 0, allowed.stderr);
  const report = JSON.parse(allowed.stdout) as Report;
  assert.equal(report.weights.length, 0);
  assert.ok(
    report.skipped.some((s) =>
      /^already compressed \(constexpr_blockwise_shift_scale\)/.test(s.reason),
    ),
    allowed.stdout,
  );
});
