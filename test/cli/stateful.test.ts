import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { readNpy, writeNpy } from "../../src/format/npy.js";
import type { PredictReport } from "../../src/cli/commands/predict.js";
import { runCli } from "../support/cli.js";
import { accumulator } from "../support/stateful.js";
import { randomHalf } from "../support/tensors.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-stateful-"));
after(() => rm(work, { recursive: true, force: true }));
const model = join(work, "accumulator.mlpackage");
await (await accumulator()).save(model);
const x = join(work, "x.npy");
await writeFile(x, writeNpy(randomHalf([1, 16], 9)));

function predict(...args: string[]): PredictReport {
  const result = runCli("predict", model, "-i", `x=${x}`, "--json", ...args);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as PredictReport;
}

test("predict --steps keeps the state: three steps of one input sum it three times", async () => {
  const one = predict();
  assert.equal(one.steps, 1);
  const three = predict("--steps", "3", "-o", join(work, "out"));
  assert.equal(three.steps, 3);
  const once = one.outputs.total.mean!;
  assert.ok(Math.abs(three.outputs.total.mean! - 3 * once) < 0.01 * (1 + Math.abs(once)));
  assert.deepEqual(three.states?.acc.shape, [1, 16]);
  const saved = readNpy(await readFile(three.states!.acc.file!), "state");
  assert.deepEqual(saved.shape, [1, 16]);

  // Starting from the state three steps left: two more make five.
  const resumed = predict("--steps", "2", "--state", `acc=${three.states!.acc.file!}`);
  assert.ok(Math.abs(resumed.outputs.total.mean! - 5 * once) < 0.01 * (1 + Math.abs(once)));

  const bad = runCli("predict", model, "--state", `kv=${x}`);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--state kv: the model has no such state \(states: acc\)/);
});

test("compare --steps runs both models over one sequence, each keeping its state", () => {
  const quantized = join(work, "int8.mlpackage");
  const q = runCli("quantize", model, "-o", quantized, "--weight-threshold", "16", "--json");
  assert.equal(q.status, 0, q.stderr);
  const result = runCli("compare", model, quantized, "--steps", "6", "--json");
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { samples: number; outputs: { snrDb: number }[] };
  assert.equal(report.samples, 6);
  assert.ok(report.outputs[0].snrDb > 30, `SNR ${report.outputs[0].snrDb}`);
});
