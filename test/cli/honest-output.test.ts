/** inspect on neural networks, compare's edge cases, and commander's errors as one line. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { runCli } from "../support/cli.js";
import { FIXTURES } from "../support/paths.js";

const PROGRAM = join(FIXTURES, "golden/bases/zoo_fp16_ios18.mlpackage");
const NETWORK = join(FIXTURES, "golden/bases/nn.mlmodel");
const LSTM = join(FIXTURES, "nn/tf_lstm_classifier.mlmodel");

interface WeightRow {
  name: string;
  dtype: string;
  shape: number[];
  stats: { min: number; max: number };
  childOps: { name: string; type: string; inputs: string[] }[];
}

test("inspect --weights lists a neural network's weights as their layers see them", () => {
  const result = runCli("inspect", NETWORK, "--weights", "--weight-threshold", "0", "--json");
  assert.equal(result.status, 0, result.stderr);
  const rows = JSON.parse(result.stdout) as WeightRow[];
  assert.ok(rows.length > 0);
  for (const row of rows) {
    assert.equal(row.childOps.length, 1, row.name);
    assert.ok(row.name.endsWith(`/${row.childOps[0].inputs[0]}`), row.name);
    assert.ok(row.stats.min <= row.stats.max, row.name);
  }
  assert.ok(
    rows.some((r) => r.shape.length >= 2),
    `a layer's weight keeps its shape: ${JSON.stringify(rows.map((r) => r.shape))}`,
  );
});

test("inspect --weights covers the models of a pipeline and nested layers", () => {
  const result = runCli("inspect", LSTM, "--weights", "--weight-threshold", "0", "--json");
  assert.equal(result.status, 0, result.stderr);
  const rows = JSON.parse(result.stdout) as WeightRow[];
  assert.ok(rows.length > 0);
});

test("an output whose shape the model leaves open shows as [?], never as []", () => {
  for (const model of [NETWORK, LSTM, PROGRAM]) {
    const result = runCli("inspect", model, "--json");
    assert.equal(result.status, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as { outputs: { type: string }[] };
    for (const output of summary.outputs) assert.doesNotMatch(output.type, /\[\]/);
  }
});

test("a model compared with itself is identical: SNR inf (a string in JSON), cosine 1", () => {
  const result = runCli("compare", PROGRAM, PROGRAM, "--samples", "1", "--json");
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as {
    outputs: { snrDb: unknown; psnrDb: unknown; cosine: number; maxAbsError: number }[];
  };
  for (const output of report.outputs) {
    assert.equal(output.snrDb, "inf");
    assert.equal(output.psnrDb, "inf");
    assert.equal(output.cosine, 1);
    assert.equal(output.maxAbsError, 0);
  }
});

test("compare --samples 0 is an error naming the flag", () => {
  const result = runCli("compare", PROGRAM, PROGRAM, "--samples", "0");
  assert.equal(result.status, 1);
  assert.match(result.stderr, /^coreml-optimize: --samples: expected a whole number of at least 1/);
  assert.equal(result.stderr.trim().split("\n").length, 1);
});

test("models with different inputs get a message naming both sides", () => {
  const result = runCli("compare", PROGRAM, NETWORK, "--samples", "1");
  assert.equal(result.status, 1, result.stdout);
  assert.match(result.stderr, /the reference takes .*img.*; the candidate takes /);
  assert.equal(result.stderr.trim().split("\n").length, 1);
});

test("commander's own errors are one line naming the option or argument", () => {
  for (const args of [
    ["quantize", PROGRAM, "--no-such-flag"],
    ["quantize"],
    ["no-such-command"],
    ["quantize", PROGRAM, "--dtype"],
  ]) {
    const result = runCli(...args);
    assert.equal(result.status, 1, args.join(" "));
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], /^coreml-optimize: .*\(see --help\)$/);
  }
});

test("--help ends with examples and shows no raw defaults", () => {
  for (const command of [
    "quantize",
    "palettize",
    "prune",
    "compress",
    "inspect",
    "compare",
    "predict",
  ]) {
    const result = runCli(command, "--help");
    assert.equal(result.status, 0);
    assert.match(result.stdout, /\nExamples:\n {2}coreml-optimize /, command);
    assert.doesNotMatch(result.stdout, /\(default: \[\]\)/, command);
  }
});
