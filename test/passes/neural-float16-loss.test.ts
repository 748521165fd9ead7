/**
 * float16 pitfalls of quantize-weights --nbits 16: a batchnorm whose variances are far below
 * float16's normal range (with a smaller ε), weights too small for float16, and constants too
 * large for it are found and named; keeping them in float32, or fusing the batchnorm into its
 * convolution first, keeps the outputs.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { encodeModel } from "../../src/format/ml-model.js";
import { loadModelFromFiles } from "../../src/format/files.js";
import { ModelSchema, type Model } from "../../src/format/gen/Model_pb.js";
import { halfRangeLoss, storedHalfRangeLoss, floatToHalf } from "../../src/kernels/fp16.js";
import { quantizeWeights, type QuantizedFieldEvent } from "../../src/passes/neural-quantize.js";
import { compareOutputs } from "../../src/runtime/compare.js";
import { loadRunner } from "../../src/runtime/runner.js";
import { runCli } from "../support/cli.js";
import { arrayFeature, floatWeights, nd, ndNetwork, noise } from "../support/neural-networks.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-fp16-loss-"));
after(() => rm(work, { recursive: true, force: true }));

const CHANNELS = 4;

/** conv → batchnorm (variances 1e-9, ε 1e-10) → + a tiny-weight conv → + a huge constant. */
function network(): Model {
  const conv = (name: string, input: string, scale: number, seed: number) =>
    nd("convolution", input, name, {
      outputChannels: BigInt(CHANNELS),
      kernelChannels: BigInt(CHANNELS),
      nGroups: 1n,
      kernelSize: [1n, 1n],
      stride: [1n, 1n],
      ConvolutionPaddingType: { case: "valid", value: {} },
      weights: floatWeights(noise(CHANNELS * CHANNELS, seed).map((v) => v * scale)),
    });
  const layers = [
    conv("conv", "x", 1e-4, 1),
    nd("batchnorm", "conv", "bn", {
      channels: BigInt(CHANNELS),
      epsilon: 1e-10,
      gamma: floatWeights([1, 1, 1, 1]),
      beta: floatWeights([0, 0, 0, 0]),
      mean: floatWeights([0, 0, 0, 0]),
      variance: floatWeights([1e-9, 2e-9, 1e-9, 3e-9]),
    }),
    conv("tiny", "x", 1e-6, 2),
    nd("loadConstant", [], "big", { shape: [1n, 1n, 1n], data: floatWeights([1e6]) }),
    nd("addBroadcastable", ["bn", "tiny"], "sum"),
    nd("addBroadcastable", ["sum", "big"], "y"),
  ];
  return create(ModelSchema, {
    specificationVersion: 4,
    description: { input: [arrayFeature("x", [CHANNELS, 2, 2])], output: [arrayFeature("y", [])] },
    Type: { case: "neuralNetwork", value: { layers } },
  });
}

test("halfRangeLoss counts subnormals, zeros and infinities; stored halves too", () => {
  assert.deepEqual(halfRangeLoss([1, 0, 1e-6, 1e-9, -7e4, 6e4, Infinity]), {
    subnormal: 1,
    zero: 1,
    overflow: 1,
  });
  const stored = Uint16Array.from([1, 1e-6, 1e-9, 7e4, 0], floatToHalf);
  assert.deepEqual(storedHalfRangeLoss(stored), { subnormal: 1, zero: 0, overflow: 1 });
});

test("the fields float16 holds badly are named; --keep-lossy and --fuse keep the outputs", async () => {
  const model = await loadModelFromFiles({ "model.mlmodel": encodeModel(network()) });
  const events: QuantizedFieldEvent[] = [];
  const half = await quantizeWeights(model, { nbits: 16, onField: (e) => events.push(e) });
  const lossy = Object.fromEntries(
    events.filter((e) => e.float16Loss).map((e) => [`${e.layer}/${e.field}`, e.float16Loss!]),
  );
  assert.deepEqual(Object.keys(lossy).sort(), ["big/data", "bn/variance", "tiny/weights"]);
  assert.equal(lossy["bn/variance"].channels, CHANNELS);
  assert.equal(lossy["big/data"].overflow, 1);
  assert.ok(lossy["tiny/weights"].snrDb < 60);
  // The conv's own weights (1e-4: normal in float16) are not reported.
  assert.equal(events.find((e) => e.layer === "conv")!.float16Loss, undefined);

  const sample = {
    x: { dtype: "fp32" as const, shape: [CHANNELS, 2, 2], data: Float32Array.from(noise(16, 9)) },
  };
  const reference = (await loadRunner(model)).predict(sample);
  const outputsOf = async (options: Parameters<typeof quantizeWeights>[1]) => {
    const quantized = await quantizeWeights(model, options);
    return compareOutputs([reference], [(await loadRunner(quantized)).predict(sample)])[0];
  };
  const plain = compareOutputs([reference], [(await loadRunner(half)).predict(sample)])[0];
  assert.ok(plain.nonFinite, "an infinite constant spoils the output");
  const kept = await outputsOf({ nbits: 16, keepLossy: true });
  assert.equal(kept.nonFinite, undefined);
  assert.ok(kept.snrDb > 60, `kept: ${kept.snrDb}`);
  // Fusing moves the batchnorm's factor into the convolution's weights (normal in float16);
  // the constant stays out of range unless kept.
  const fusedEvents: QuantizedFieldEvent[] = [];
  await quantizeWeights(model, { nbits: 16, fuse: true, onField: (e) => fusedEvents.push(e) });
  assert.ok(!fusedEvents.some((e) => e.layer === "bn"));
  assert.equal(fusedEvents.find((e) => e.layer === "conv")!.float16Loss, undefined);
  const both = await outputsOf({ nbits: 16, fuse: true, keepLossy: true });
  assert.ok(both.snrDb > 60, `fused and kept: ${both.snrDb}`);
  await Promise.all([model.close(), half.close()]);
});

test("quantize-weights --nbits 16 prints one warning per lossy weight and a hint", async () => {
  const input = join(work, "lossy.mlmodel");
  await writeFile(input, encodeModel(network()));
  const result = runCli(
    "quantize-weights",
    input,
    "-o",
    join(work, "half.mlmodel"),
    "--nbits",
    "16",
    "-q",
  );
  assert.equal(result.status, 0, result.stderr);
  const warnings = result.stdout.split("\n").filter((line) => line.startsWith("warning:"));
  assert.equal(warnings.length, 3, result.stdout);
  assert.match(
    result.stdout,
    /warning: bn\/variance \(batchnorm\): float16 makes 4 zero of 4 values; the scale or shift of 4 of its channels moves/,
  );
  assert.match(
    result.stdout,
    /warning: big\/data \(loadConstant\): float16 makes 1 infinite of 1 values/,
  );
  assert.match(result.stdout, /^hint: --keep-lossy/m);
  const kept = runCli(
    "quantize-weights",
    input,
    "-o",
    join(work, "kept.mlmodel"),
    "--nbits",
    "16",
    "-q",
    "--keep-lossy",
    "--json",
  );
  assert.equal(kept.status, 0, kept.stderr);
  const report = JSON.parse(kept.stdout) as {
    skipped: { name: string; reason: string }[];
    hints: string[];
  };
  assert.deepEqual(report.hints, []);
  const big = report.skipped.find((w) => w.name === "big/data")!;
  assert.match(big.reason, /^kept in float32/);
});

test("integer constants float16 cannot hold exactly (a size of 30,521) are reported", async () => {
  const spec = ndNetwork(
    { x: [1] },
    [
      nd("loadConstantND", [], "sizes", { shape: [2n], data: floatWeights([30521, 7]) }),
      nd("loadConstantND", [], "small", { shape: [2n], data: floatWeights([2048, -1]) }),
    ],
    ["sizes", "small"],
  );
  const model = await loadModelFromFiles({ "model.mlmodel": encodeModel(spec) });
  const events: QuantizedFieldEvent[] = [];
  const half = await quantizeWeights(model, { nbits: 16, onField: (e) => events.push(e) });
  const sizes = events.find((e) => e.layer === "sizes")!;
  assert.equal(sizes.float16Loss?.inexactIntegers, 1);
  assert.equal(events.find((e) => e.layer === "small")!.float16Loss, undefined);
  await Promise.all([model.close(), half.close()]);
});
