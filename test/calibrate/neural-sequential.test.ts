import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { quantizeWeightsSequentially } from "../../src/calibrate/neural-sequential.js";
import { collectNeuralStatistics } from "../../src/calibrate/neural-statistics.js";
import { loadModel, MLModel } from "../../src/format/model.js";
import { quantizeWeights } from "../../src/passes/neural-quantize.js";
import { NeuralNetworkInterpreter } from "../../src/runtime/neural-network.js";
import {
  convReluFcNetwork,
  correlatedImageSamples,
  decompressedWeights,
  writeConvReluFcFiles,
} from "../support/neural-networks.js";
import { runCli } from "../support/cli.js";

const GPTQ_2BIT = { nbits: 2, mode: "kmeans_lut", algorithm: "gptq-kmeans" } as const;

test("sequential GPTQ k-means on a network: each layer fitted to the statistics of the network quantized before it", async () => {
  const model = new MLModel(convReluFcNetwork());
  const data = correlatedImageSamples(3);
  const progress: number[] = [];
  const sequential = await quantizeWeightsSequentially(model, data, {
    ...GPTQ_2BIT,
    onCalibrationProgress: ({ done, total }) => progress.push(done / total),
  });
  // Two stages (conv, then fc), one run per stage and sample.
  assert.deepEqual(
    progress,
    [1, 2, 3, 4, 5, 6].map((done) => done / 6),
  );

  // By hand: the conv on the float network's statistics (its input is the same either way)…
  const floatStatistics = collectNeuralStatistics(model, data, { gram: true });
  const convOnly = await quantizeWeights(model, {
    layers: { conv: GPTQ_2BIT },
    calibration: floatStatistics,
  });
  // …then the fc on the statistics of the network with that conv in place.
  const afterConv = collectNeuralStatistics(convOnly, data, { gram: true });
  const byHand = await quantizeWeights(convOnly, {
    layers: { fc: GPTQ_2BIT },
    calibration: afterConv,
  });
  for (const layer of ["conv", "fc"]) {
    assert.deepEqual(
      await decompressedWeights(sequential, layer),
      await decompressedWeights(byHand, layer),
      layer,
    );
  }
  // The fc's statistics did change, so the sequential fc is not the one-pass fc.
  const fcGram = (table: typeof floatStatistics) => table.statistics("fc")!.gram!;
  assert.notDeepEqual(fcGram(afterConv), fcGram(floatStatistics));
  const onePass = await quantizeWeights(model, { ...GPTQ_2BIT, calibration: floatStatistics });
  assert.deepEqual(
    await decompressedWeights(onePass, "conv"),
    await decompressedWeights(sequential, "conv"),
  );
  assert.notDeepEqual(
    await decompressedWeights(onePass, "fc"),
    await decompressedWeights(sequential, "fc"),
  );
});

test("sequential quantization: layers without statistics first in one pass, a run only per calibrated stage", async () => {
  const model = new MLModel(convReluFcNetwork());
  const data = correlatedImageSamples(2);
  let runs = 0;
  const quantized = await quantizeWeightsSequentially(model, data, {
    nbits: 4,
    mode: "linear",
    layers: { fc: GPTQ_2BIT },
    onCalibrationProgress: ({ total }) => (runs = total),
  });
  assert.equal(runs, 2, "one stage (fc), two samples");
  const linear = await quantizeWeights(model, { nbits: 4, mode: "linear" });
  assert.deepEqual(
    await decompressedWeights(quantized, "conv"),
    await decompressedWeights(linear, "conv"),
  );
  const fc = await decompressedWeights(quantized, "fc");
  assert.ok(new Set(fc).size <= 4, "fc on a 2-bit table");
});

test("quantize-weights --sequential --compensate writes what the API does; without a calibrated algorithm it fails on one line", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nn-sequential-"));
  try {
    const { input, data, batch } = await writeConvReluFcFiles(dir);
    const common = ["--nbits", "2", "--mode", "kmeans_lut", "--data", `x=${data}`, "--sequential"];
    const out = join(dir, "out.mlmodel");
    const ok = runCli(
      "quantize-weights",
      input,
      "-o",
      out,
      ...common,
      "--algorithm",
      "gptq-kmeans",
      "--compensate",
    );
    assert.equal(ok.status, 0, ok.stderr);
    const expected = await quantizeWeightsSequentially(new MLModel(convReluFcNetwork()), batch, {
      ...GPTQ_2BIT,
      compensate: true,
    });
    const written = await loadModel(out);
    for (const layer of ["conv", "fc"]) {
      assert.deepEqual(
        await decompressedWeights(written, layer),
        await decompressedWeights(expected, layer),
      );
    }
    const failed = join(dir, "failed.mlmodel");
    const plain = ["--nbits", "2", "--mode", "kmeans_lut", "--sequential"];
    const result = runCli("quantize-weights", input, "-o", failed, ...plain);
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /--sequential calibrates --algorithm sensitive-kmeans or gptq-kmeans/,
    );
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.ok(!existsSync(failed));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("statistics beside the float network: the network's own Gram matrices, and Σ x_ref·xᵀ across", async () => {
  const model = new MLModel(convReluFcNetwork());
  const data = correlatedImageSamples(2);
  const convOnly = await quantizeWeights(model, {
    layers: { conv: { nbits: 2, mode: "kmeans_lut" } },
  });
  const own = collectNeuralStatistics(convOnly, data, { gram: true });
  const paired = collectNeuralStatistics(convOnly, data, { reference: model });
  const close = (a: Float64Array, b: Float64Array) =>
    a.every((v, i) => Math.abs(v - b[i]) <= 1e-9 * (1 + Math.abs(b[i])));
  for (const layer of ["conv", "fc"]) {
    const [mine, both] = [own.statistics(layer)!, paired.statistics(layer)!];
    assert.equal(both.columns, mine.columns);
    assert.ok(close(both.gram!, mine.gram!), layer);
    assert.ok(close(both.diagonal, mine.diagonal), layer);
  }
  // The conv reads the model's input in both networks: its cross matrix is its Gram matrix.
  const conv = paired.statistics("conv")!;
  assert.ok(close(conv.crossGram!, conv.gram!));
  // The fc's input went through the quantized conv: Σ x_ref·xᵀ, by hand from both runs.
  const inputs = (network: MLModel) =>
    data.map((sample) => {
      let seen: Float32Array | undefined;
      NeuralNetworkInterpreter.fromSpec(network.spec).predict(sample, {
        observe: (blob, value) =>
          blob === "t" && (seen = Float32Array.from(value.data as Float32Array)),
      });
      return seen!;
    });
  const [ref, quantized] = [inputs(model), inputs(convOnly)];
  const columns = 8;
  const cross = new Float64Array(columns * columns);
  ref.forEach((r, s) => {
    for (let v = 0; v < r.length / columns; v++)
      for (let i = 0; i < columns; i++)
        for (let j = 0; j < columns; j++)
          cross[i * columns + j] += r[v * columns + i] * quantized[s][v * columns + j];
  });
  const fc = paired.statistics("fc")!;
  assert.ok(close(fc.crossGram!, cross));
  assert.ok(!close(fc.crossGram!, fc.gram!));
});

test("compensated sequential quantization: each layer fitted with the statistics gathered beside the float network", async () => {
  const model = new MLModel(convReluFcNetwork());
  const data = correlatedImageSamples(3);
  const compensated = await quantizeWeightsSequentially(model, data, {
    ...GPTQ_2BIT,
    compensate: true,
  });
  const plain = await quantizeWeightsSequentially(model, data, GPTQ_2BIT);
  // The conv reads the input itself: nothing to compensate.
  assert.deepEqual(
    await decompressedWeights(compensated, "conv"),
    await decompressedWeights(plain, "conv"),
  );
  const convOnly = await quantizeWeights(model, {
    layers: { conv: GPTQ_2BIT },
    calibration: collectNeuralStatistics(model, data, { gram: true }),
  });
  const byHand = await quantizeWeights(convOnly, {
    layers: { fc: GPTQ_2BIT },
    calibration: collectNeuralStatistics(convOnly, data, { reference: model }),
  });
  const fc = await decompressedWeights(compensated, "fc");
  assert.deepEqual(fc, await decompressedWeights(byHand, "fc"));
  assert.notDeepEqual(fc, await decompressedWeights(plain, "fc"));
});
