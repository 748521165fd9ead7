import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readNpy } from "../../src/format/npy.js";
import { runCli } from "../support/cli.js";
import { FIXTURES, GOLDEN } from "../support/paths.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-predict-test-"));
after(() => rm(work, { recursive: true, force: true }));

const runtime = join(FIXTURES, "runtime");
const lstm = join(runtime, "tiny_lstm_fp32.mlpackage");

test("predict writes each output as float32 .npy matching PyTorch", () => {
  const out = join(work, "lstm");
  const result = runCli(
    "predict",
    lstm,
    "--input",
    `x=${join(runtime, "tiny_lstm.in.x.npy")}`,
    "-o",
    out,
    "--json",
  );
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as {
    outputs: Record<string, { file: string; shape: number[] }>;
  };
  assert.deepEqual(report.outputs.var_40.shape, [1, 10]);
  const ours = readNpy(readFileSync(join(out, "var_40.npy")));
  const torch = readNpy(readFileSync(join(runtime, "tiny_lstm.out.var_40.npy")));
  assert.equal(ours.dtype, "fp32");
  (torch.data as Float32Array).forEach((v, i) =>
    assert.ok(Math.abs(v - (ours.data as Float32Array)[i]) < 1e-5),
  );
});

test("predict without inputs uses seeded random ones; bad options fail in one line", () => {
  const first = runCli("predict", lstm, "--json");
  const second = runCli("predict", lstm, "--json");
  assert.equal(first.status, 0, first.stderr);
  const largest = (r: typeof first) =>
    (JSON.parse(r.stdout) as { outputs: { var_40: { max: number } } }).outputs.var_40.max;
  assert.equal(largest(first), largest(second));
  const wrong = runCli("predict", lstm, "--input", "y=nothing.npy");
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /^coreml-optimize: --input y: the model has no such input/);
  const nn = join(GOLDEN, "bases/nn.mlmodel");
  if (existsSync(nn)) {
    const network = runCli("predict", nn, "--json");
    assert.equal(network.status, 0, network.stderr);
    const outputs = (JSON.parse(network.stdout) as { outputs: Record<string, { shape: number[] }> })
      .outputs;
    assert.deepEqual(outputs.out_conv.shape, [64, 16, 16]);
    assert.deepEqual(outputs.out_emb.shape, [48]);
  }
});

const base = join(GOLDEN, "bases/zoo_fp16_ios18.mlpackage");
const compressed = join(GOLDEN, "cases/lq_int8_sym_perchannel__zoo_fp16_ios18.mlpackage");

test(
  "compare reports per-output metrics",
  { skip: !existsSync(base) || !existsSync(compressed) },
  () => {
    const result = runCli("compare", base, compressed, "--samples", "2", "--json");
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      samples: number;
      outputs: { name: string; snrDb: number }[];
    };
    assert.equal(report.samples, 2);
    for (const o of report.outputs)
      assert.ok(Number.isFinite(o.snrDb) && o.snrDb > 25, `${o.name}: ${o.snrDb}`);
    const table = runCli("compare", base, base, "--samples", "1");
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /SNR dB/);
    assert.match(table.stdout, /inf/);
  },
);
