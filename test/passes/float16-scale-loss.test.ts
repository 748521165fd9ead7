/**
 * ML program passes on float16 weights store float16 scales and tables: a weight too small
 * for float16's normal range gets subnormal scales, which the report counts and the CLI warns
 * about, naming the weight.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { linearQuantizerConfig } from "../../src/config/linear-quantizer.js";
import { palettizerConfig } from "../../src/config/palettizer.js";
import { floatToHalf } from "../../src/kernels/fp16.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { buildModel } from "../../src/program/builder.js";
import { runCli } from "../support/cli.js";
import { noise } from "../support/neural-networks.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-fp16-scales-"));
after(() => rm(work, { recursive: true, force: true }));

/** Two fp16 linear layers (64 × 64): one of ordinary weights, one of weights around 1e-5. */
async function model() {
  const weight = (scale: number, seed: number) => ({
    dtype: "fp16" as const,
    shape: [64, 64],
    data: Uint16Array.from(noise(4096, seed), (v) => floatToHalf(v * scale)),
  });
  return buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp16", [1, 64]);
    const y = b.linear(x, await b.constant("normal_w", weight(0.5, 1)), undefined, "normal");
    b.output(b.linear(y, await b.constant("tiny_w", weight(2e-5, 2)), undefined, "tiny"));
  });
}

test("int8 scales and palettization tables of tiny fp16 weights are reported as subnormal", async () => {
  const input = await model();
  const quantized = await linearQuantizeWeights(input, { globalConfig: linearQuantizerConfig() });
  const byName = Object.fromEntries(quantized.weights.map((w) => [w.name, w]));
  assert.equal(byName.normal_w.float16Loss, undefined);
  // One scale per output channel: max |w| / 127 ≈ 1.6e-7 is below 2^-14.
  assert.deepEqual(byName.tiny_w.float16Loss, { subnormal: 64, zero: 0, overflow: 0 });
  const palettized = await palettizeWeights(input, {
    globalConfig: palettizerConfig({ nbits: 2 }),
  });
  const tiny = palettized.weights.find((w) => w.name === "tiny_w")!;
  assert.ok(tiny.float16Loss && tiny.float16Loss.subnormal > 0);
  assert.equal(palettized.weights.find((w) => w.name === "normal_w")!.float16Loss, undefined);
  await Promise.all([input.close(), quantized.model.close(), palettized.model.close()]);
});

test("the quantize command warns about the weight and says how to keep it", async () => {
  const input = await model();
  const path = join(work, "tiny.mlpackage");
  await input.save(path);
  await input.close();
  const result = runCli("quantize", path, "-o", join(work, "int8.mlpackage"), "-q");
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^warning: tiny_w: float16 makes 64 subnormal of its scales/m);
  assert.doesNotMatch(result.stdout, /warning: normal_w/);
  assert.match(result.stdout, /^hint: leave such weights alone \(--op-name NAME=skip\)/m);
});
