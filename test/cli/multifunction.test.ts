import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { ModelSummary } from "../../src/analysis/inspect.js";
import { runCli } from "../support/cli.js";
import { prefillDecode } from "../support/multifunction.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-multifunction-"));
after(() => rm(work, { recursive: true, force: true }));
const input = join(work, "prefill-decode.mlpackage");
const model = await prefillDecode();
await model.save(input);
await model.close();

const weightFile = (path: string) => join(path, "Data/com.apple.CoreML/weights/weight.bin");

test("inspect lists every function's inputs and outputs", () => {
  const result = runCli("inspect", input, "--json");
  assert.equal(result.status, 0, result.stderr);
  const summary = JSON.parse(result.stdout) as ModelSummary;
  assert.equal(summary.defaultFunction, "prefill");
  assert.deepEqual(
    summary.functions.map((f) => [f.name, f.inputs[0].type, f.outputs[0].name]),
    [
      ["prefill", "fp16[1,8,256]", "head_out"],
      ["decode", "fp16[1,1,256]", "head_out"],
    ],
  );
  const text = runCli("inspect", input).stdout;
  assert.match(text, /Function decode \(CoreML8\): .*\n {2}inputs: x fp16\[1,1,256\]/);
});

test("quantize keeps the shared weight shared; --function decode leaves prefill alone", async () => {
  const out = join(work, "int4.mlpackage");
  const args = ["--dtype", "int4", "--granularity", "per_block", "--block-size", "32"];
  const result = runCli("quantize", input, "-o", out, ...args, "--json");
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as {
    weights: { name: string; sharedWith?: string }[];
  };
  assert.deepEqual(
    report.weights.map((w) => [w.name, w.sharedWith]),
    [
      ["prefill/w", undefined],
      ["prefill/head", undefined],
      ["decode/w", "prefill/w"],
      ["decode/head", undefined],
    ],
  );
  assert.ok((await stat(weightFile(out))).size < 50_000);

  const decodeOnly = join(work, "decode.mlpackage");
  const partial = runCli(
    "quantize",
    input,
    "-o",
    decodeOnly,
    ...args,
    "--function",
    "decode",
    "--json",
  );
  assert.equal(partial.status, 0, partial.stderr);
  const names = (JSON.parse(partial.stdout) as { weights: { name: string }[] }).weights.map(
    (w) => w.name,
  );
  assert.deepEqual(names, ["decode/w", "decode/head"]);

  const bad = runCli("quantize", input, "-o", join(work, "bad.mlpackage"), "--function", "verify");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--function verify: the model has no function named verify/);

  const dense = join(work, "dense.mlpackage");
  const back = runCli("decompress", out, "-o", dense, "--json");
  assert.equal(back.status, 0, back.stderr);
  assert.ok((await stat(weightFile(dense))).size < 256 * 256 * 2 + 2 * 32 * 256 * 2 + 4096);
});
