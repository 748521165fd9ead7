import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { measuredCalibration, type MeasureHorizon } from "../../src/calibrate/neural-measure.js";
import { collectNeuralStatistics } from "../../src/calibrate/neural-statistics.js";
import type { Model } from "../../src/format/gen/Model_pb.js";
import type { NeuralNetworkLayer } from "../../src/format/gen/NeuralNetwork_pb.js";
import { MLModel } from "../../src/format/model.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { neuralNetworkOf } from "../../src/neural/walk.js";
import { quantizeWeights } from "../../src/passes/neural-quantize.js";
import { candidateTables } from "../../src/passes/sensitive-kmeans.js";
import { NeuralNetworkInterpreter } from "../../src/runtime/neural-network.js";
import { runCli } from "../support/cli.js";
import {
  CONV_WEIGHTS,
  convReluFcNetwork,
  correlatedImageSamples,
  decompressedWeights,
  writeConvReluFcFiles,
  FC_WEIGHTS,
  floatWeights,
} from "../support/neural-networks.js";

/** A copy of layer `name` of `spec` with float `weights`. */
function withWeights(spec: Model, name: string, weights: Float32Array): NeuralNetworkLayer {
  const layer = neuralNetworkOf(spec)!.layers.find((l) => l.name === name)!;
  const copy = { ...layer, layer: { ...layer.layer } } as NeuralNetworkLayer;
  const value = { ...(layer.layer.value as object), weights: floatWeights([...weights]) };
  (copy.layer as { value: unknown }).value = value;
  return copy;
}

/** Σ (blob − float blob)² over `data` with `layers` in place of the float ones. */
function blobError(
  spec: Model,
  data: Record<string, Tensor>[],
  layers: NeuralNetworkLayer[],
  blob: string,
) {
  const reference = NeuralNetworkInterpreter.fromSpec(spec);
  const changed = reference.withLayers(layers);
  let error = 0;
  for (const sample of data) {
    const seen: Record<string, Float32Array>[] = [{}, {}];
    [reference, changed].forEach((interpreter, k) =>
      interpreter.predict(sample, {
        observe: (n, v) => (seen[k][n] = Float32Array.from(v.data as Float32Array)),
      }),
    );
    seen[0][blob].forEach((v, i) => (error += (seen[1][blob][i] - v) ** 2));
  }
  return error;
}

for (const [horizon, blobs] of [
  ["layer", { conv: "r", fc: "y" }],
  // The model's output, with the earlier layers' kept tables in place.
  ["output", { conv: "y", fc: "y" }],
] as [MeasureHorizon, Record<string, string>][]) {
  test(`sensitive kmeans_lut measured at the ${horizon}: each layer's error there no larger than plain k-means'`, async () => {
    const spec = convReluFcNetwork();
    const model = new MLModel(spec);
    const data = correlatedImageSamples(3);
    const statistics = collectNeuralStatistics(model, data, { gram: true });
    const calibration = measuredCalibration(model, data, statistics, { horizon });
    const chosen = new Map<string, { exponent?: number; relu?: boolean }>();
    const quantized = await quantizeWeights(model, {
      nbits: 2,
      mode: "kmeans_lut",
      algorithm: "sensitive-kmeans",
      calibration,
      onField: (e) =>
        e.field === "weights" &&
        chosen.set(e.layer, { exponent: e.importanceExponent, relu: e.reluActive }),
    });
    assert.deepEqual([...chosen.keys()].sort(), ["conv", "fc"]);
    assert.equal(chosen.get("fc")!.relu, undefined, "fc feeds no ReLU");
    const kept: Record<string, NeuralNetworkLayer> = {};
    for (const [name, weights] of [
      ["conv", CONV_WEIGHTS],
      ["fc", FC_WEIGHTS],
    ] as const) {
      const shape = name === "conv" ? [8, 3, 3, 3] : [10, 8];
      const tables = candidateTables(
        Float64Array.from(weights, Math.fround),
        shape,
        2,
        statistics.statistics(name)!,
      );
      assert.equal(tables.length, name === "conv" ? 4 : 3, `${name}: α 0, 0.5, 1 (+ ReLU-active)`);
      const plain = tables.find((t) => t.exponent === 0)!;
      const decode = (t: (typeof tables)[number]) => Float32Array.from(t.indices, (i) => t.lut[i]);
      // At the output, the fc's candidates are judged with the conv's kept table in place.
      const before = horizon === "output" && name === "fc" ? [kept.conv] : [];
      const error = (w: Float32Array) =>
        blobError(spec, data, [...before, withWeights(spec, name, w)], blobs[name]);
      const errors = tables.map((t) => error(decode(t)));
      kept[name] = withWeights(spec, name, await decompressedWeights(quantized, name));
      const keptError = error(await decompressedWeights(quantized, name));
      // The kept table is the candidate with the least measured error, so no worse than α = 0.
      const least = Math.min(...errors);
      assert.ok(Math.abs(keptError - least) <= 1e-6 * least, `${name}: ${keptError} vs ${errors}`);
      assert.ok(keptError <= error(decode(plain)) * (1 + 1e-9));
    }
  });
}

test("measured at the output against a reference: errors are the distance to the reference's outputs", async () => {
  const spec = convReluFcNetwork();
  const float = new MLModel(spec);
  const data = correlatedImageSamples(2);
  // The network as a sequential calibration has it after the conv's stage: conv at 2 bits.
  const current = await quantizeWeights(float, {
    nbits: 2,
    mode: "kmeans_lut",
    selector: (layer, field) => layer.name === "conv" && field !== "bias",
  });
  const quantizedConv = withWeights(spec, "conv", await decompressedWeights(current, "conv"));
  const statistics = collectNeuralStatistics(current, data, { gram: true });
  const fc = Float32Array.from(FC_WEIGHTS, Math.fround);
  const candidates = new Map([["fc", [fc]]]);
  const own = await measuredCalibration(current, data, statistics, { horizon: "output" }).measure!(
    candidates,
  );
  // The fc as it is changes nothing of the network's own outputs…
  assert.deepEqual(own.get("fc"), [0]);
  // …but against the float network it leaves the conv's error in the output.
  const against = await measuredCalibration(current, data, statistics, {
    horizon: "output",
    reference: float,
  }).measure!(candidates);
  const expected = blobError(spec, data, [quantizedConv], "y");
  assert.ok(expected > 0);
  const [error] = against.get("fc")!;
  assert.ok(Math.abs(error - expected) <= 1e-6 * expected, `${error} vs ${expected}`);
});

test("sensitive kmeans_lut keeps, per layer, the candidate its calibration's measure rates least", async () => {
  const model = new MLModel(convReluFcNetwork());
  const data = correlatedImageSamples(2);
  const statistics = collectNeuralStatistics(model, data, { gram: true });
  const measured: string[] = [];
  // Rates the α = 0.5 table best everywhere, whatever the statistics say.
  const calibration = {
    statistics: (layer: string) => statistics.statistics(layer),
    measure: async (candidates: ReadonlyMap<string, readonly Float32Array[]>) => {
      measured.push(...candidates.keys());
      return new Map(
        [...candidates].map(([name, list]) => [name, list.map((_, i) => (i === 1 ? 0 : 1))]),
      );
    },
  };
  const exponents = new Map<string, number | undefined>();
  const quantized = await quantizeWeights(model, {
    nbits: 2,
    mode: "kmeans_lut",
    algorithm: "sensitive-kmeans",
    calibration,
    onField: (e) => e.field === "weights" && exponents.set(e.layer, e.importanceExponent),
  });
  assert.deepEqual(measured.sort(), ["conv", "fc"]);
  assert.deepEqual(Object.fromEntries(exponents), { conv: 0.5, fc: 0.5 });
  const tables = candidateTables(
    Float64Array.from(FC_WEIGHTS, Math.fround),
    [10, 8],
    2,
    statistics.statistics("fc")!,
  );
  const expected = Float32Array.from(tables[1].indices, (i) => tables[1].lut[i]);
  assert.deepEqual(await decompressedWeights(quantized, "fc"), expected);
});

test("quantize-weights --measure output writes a model; a bad --measure fails on one line", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nn-measure-"));
  try {
    const { input, data } = await writeConvReluFcFiles(dir);
    const common = ["--nbits", "2", "--mode", "kmeans_lut", "--data", `x=${data}`];
    const out = join(dir, "out.mlmodel");
    const flags = ["--algorithm", "sensitive-kmeans", "--measure", "output"];
    const ok = runCli("quantize-weights", input, "-o", out, ...common, ...flags);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(existsSync(out));
    for (const [bad, message] of [
      [
        ["--algorithm", "sensitive-kmeans", "--measure", "nope"],
        /--measure: expected one of layer, output, got "nope"/,
      ],
      [["--measure", "layer"], /--measure needs --algorithm sensitive-kmeans/],
    ] as [string[], RegExp][]) {
      const failed = join(dir, "failed.mlmodel");
      const result = runCli("quantize-weights", input, "-o", failed, ...common, ...bad);
      assert.equal(result.status, 1, bad.join(" "));
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.ok(!existsSync(failed));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
