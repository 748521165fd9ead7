import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { collectNeuralStatistics } from "../../src/calibrate/neural-statistics.js";
import type { Model } from "../../src/format/gen/Model_pb.js";
import { encodeModel, loadModel, MLModel } from "../../src/format/model.js";
import { writeNpy } from "../../src/format/npy.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { neuralNetworkOf } from "../../src/neural/walk.js";
import { decompressNeuralNetwork } from "../../src/passes/neural-decompress.js";
import { quantizeWeights } from "../../src/passes/neural-quantize.js";
import { NeuralNetworkInterpreter } from "../../src/runtime/neural-network.js";
import { runCli } from "../support/cli.js";
import { floatWeights, ndNetwork, noise } from "../support/neural-networks.js";

/** x [4, 5, 5] → grouped 3×3 conv, stride 2, "same" → [6, 3, 3] → ReLU → innerProduct over the last axis. */
function network(): Model {
  return ndNetwork(
    { x: [4, 5, 5] },
    [
      {
        name: "conv",
        input: ["x"],
        output: ["c"],
        layer: {
          case: "convolution",
          value: {
            outputChannels: 6n,
            kernelChannels: 2n,
            nGroups: 2n,
            kernelSize: [3n, 3n],
            stride: [2n, 2n],
            weights: floatWeights(noise(6 * 2 * 9, 3)),
            ConvolutionPaddingType: { case: "same", value: {} },
          },
        },
      },
      {
        name: "relu",
        input: ["c"],
        output: ["r"],
        layer: { case: "activation", value: { NonlinearityType: { case: "ReLU", value: {} } } },
      },
      {
        name: "fc",
        input: ["r"],
        output: ["y"],
        layer: {
          case: "innerProduct",
          value: {
            inputChannels: 3n,
            outputChannels: 40n,
            weights: floatWeights(noise(40 * 3, 5).map((v, i) => v * (1 + (i % 3) * 4))),
          },
        },
      },
    ],
    ["y"],
  );
}

/** Channel energies far apart, so weighting matters. */
function samples(count: number): Record<string, Tensor>[] {
  return Array.from({ length: count }, (_, s) => ({
    x: {
      dtype: "fp32",
      shape: [4, 5, 5],
      data: Float32Array.from(noise(100, 11 + s), (v, i) => v * [1, 8, 0.2, 3][Math.floor(i / 25)]),
    },
  }));
}

/** Σ v vᵀ over the vectors `vectors` (each `columns` long). */
function gramOf(vectors: number[][], columns: number): Float64Array {
  const g = new Float64Array(columns * columns);
  for (const v of vectors)
    for (let i = 0; i < columns; i++)
      for (let j = 0; j < columns; j++) g[i * columns + j] += v[i] * v[j];
  return g;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string) {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= 1e-9 * (1 + Math.abs(expected[i])),
      `${what}[${i}]`,
    );
  }
}

/** The fixture innerProduct's output error Σ‖(W − Ŵ)x‖² over its calibration inputs, through XᵀX. */
function fcOutputError(gram: Float64Array, w: Float64Array): number {
  const original = Float64Array.from(
    noise(40 * 3, 5).map((v, i) => Math.fround(v * (1 + (i % 3) * 4))),
  );
  let error = 0;
  for (let r = 0; r < 40; r++)
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++)
        error +=
          (original[r * 3 + i] - w[r * 3 + i]) *
          gram[i * 3 + j] *
          (original[r * 3 + j] - w[r * 3 + j]);
  return error;
}

test("neural-network statistics: each conv group's im2col patches and each innerProduct's inputs, summed", () => {
  const spec = network();
  const model = new MLModel(spec);
  const data = samples(2);
  const table = collectNeuralStatistics(model, data, { gram: true });
  const interpreter = NeuralNetworkInterpreter.fromSpec(spec);
  const convVectors: number[][][] = [[], []];
  const fcVectors: number[][] = [];
  const activeEnergy = new Float64Array(6 * 18);
  for (const sample of data) {
    const x = sample.x.data as Float32Array;
    // "same" with stride 2 on 5: 3 outputs, one row and column of padding before and after.
    for (let g = 0; g < 2; g++) {
      for (let oy = 0; oy < 3; oy++) {
        for (let ox = 0; ox < 3; ox++) {
          const v: number[] = [];
          for (let c = 0; c < 2; c++) {
            for (let ky = 0; ky < 3; ky++) {
              for (let kx = 0; kx < 3; kx++) {
                const [iy, ix] = [oy * 2 - 1 + ky, ox * 2 - 1 + kx];
                const inside = iy >= 0 && iy < 5 && ix >= 0 && ix < 5;
                v.push(inside ? x[(g * 2 + c) * 25 + iy * 5 + ix] : 0);
              }
            }
          }
          convVectors[g].push(v);
        }
      }
    }
    const blobs: Record<string, Float32Array> = {};
    interpreter.predict(sample, {
      observe: (name, value) => (blobs[name] = Float32Array.from(value.data as Float32Array)),
    });
    for (let r = 0; r < 18; r++) fcVectors.push(Array.from(blobs.r.subarray(r * 3, r * 3 + 3)));
    // Each conv weight's input energy where its output channel is positive (the ReLU passes it).
    for (let row = 0; row < 6; row++) {
      const g = Math.floor(row / 3);
      const patches = convVectors[g].slice(-9);
      patches.forEach((v, position) => {
        if (blobs.c[row * 9 + position] > 0)
          v.forEach((x, j) => (activeEnergy[row * 18 + j] += x * x));
      });
    }
  }
  const conv = table.statistics("conv")!;
  assert.deepEqual([conv.groups, conv.columns, conv.vectors], [2, 18, 18]);
  assert.deepEqual(conv.inputAxes, [1, 2, 3]);
  const expected = new Float64Array([...gramOf(convVectors[0], 18), ...gramOf(convVectors[1], 18)]);
  assertClose(conv.gram!, expected, "conv gram");
  assertClose(
    conv.diagonal,
    Float64Array.from({ length: 36 }, (_, i) => expected[Math.floor(i / 18) * 324 + (i % 18) * 19]),
    "conv diagonal",
  );
  assertClose(conv.activeEnergy!, activeEnergy, "conv energy where active");
  const fc = table.statistics("fc")!;
  assert.equal(fc.activeEnergy, undefined);
  assert.deepEqual([fc.groups, fc.columns, fc.vectors], [1, 3, 36]);
  assertClose(fc.gram!, gramOf(fcVectors, 3), "fc gram");
  const diagonalOnly = collectNeuralStatistics(model, data);
  assert.equal(diagonalOnly.statistics("fc")!.gram, undefined);
  assertClose(diagonalOnly.statistics("fc")!.diagonal, fc.diagonal, "fc diagonal");
});

/** The weights of layer `name` after decompression. */
async function weightsOf(model: MLModel, name: string): Promise<Float64Array> {
  const dense = await decompressNeuralNetwork(model);
  const layer = neuralNetworkOf(dense.spec)!.layers.find((l) => l.name === name)!;
  const value = layer.layer.value as { weights: { floatValue: number[] } };
  return Float64Array.from(value.weights.floatValue);
}

test("sensitive kmeans_lut: tables like plain k-means', no larger layer-output error on its samples", async () => {
  const model = new MLModel(network());
  const data = samples(3);
  const calibration = collectNeuralStatistics(model, data, { gram: true });
  const exponents = new Map<string, number>();
  const sensitive = await quantizeWeights(model, {
    nbits: 2,
    mode: "kmeans_lut",
    algorithm: "sensitive-kmeans",
    calibration,
    onField: (e) =>
      e.importanceExponent !== undefined && exponents.set(e.layer, e.importanceExponent),
  });
  const plain = await quantizeWeights(model, { nbits: 2, mode: "kmeans_lut" });
  assert.deepEqual([...exponents.keys()].sort(), ["conv", "fc"]);
  for (const name of ["conv", "fc"]) {
    const field = (m: MLModel) => {
      const layer = neuralNetworkOf(m.spec)!.layers.find((l) => l.name === name)!;
      return (layer.layer.value as { weights: { quantization: unknown; rawValue: Uint8Array } })
        .weights;
    };
    const [s, p] = [field(sensitive), field(plain)];
    assert.equal(s.rawValue.length, p.rawValue.length, `${name}: packed indices`);
    assert.deepEqual(
      (s.quantization as { QuantizationType: { case: string } }).QuantizationType.case,
      "lookupTableQuantization",
    );
  }
  const fcStatistics = calibration.statistics("fc")!;
  const outputError = (w: Float64Array) => fcOutputError(fcStatistics.gram!, w);
  const [sensitiveError, plainError] = [
    outputError(await weightsOf(sensitive, "fc")),
    outputError(await weightsOf(plain, "fc")),
  ];
  assert.ok(
    sensitiveError <= plainError * (1 + 1e-9),
    `sensitive ${sensitiveError} vs plain ${plainError}`,
  );
  // Both run.
  for (const m of [sensitive, plain]) {
    const out = NeuralNetworkInterpreter.fromSpec(m.spec).predict(data[0]);
    assert.deepEqual(out.y.shape, [6, 3, 40]);
  }
});

test("gptq-kmeans kmeans_lut: one table per layer, no larger layer-output error than sensitive k-means", async () => {
  const model = new MLModel(network());
  const data = samples(3);
  const calibration = collectNeuralStatistics(model, data, { gram: true });
  const quantize = (algorithm: "sensitive-kmeans" | "gptq-kmeans") =>
    quantizeWeights(model, { nbits: 2, mode: "kmeans_lut", algorithm, calibration });
  const [gptq, sensitive] = [await quantize("gptq-kmeans"), await quantize("sensitive-kmeans")];
  const fcStatistics = calibration.statistics("fc")!;
  const outputError = (w: Float64Array) => fcOutputError(fcStatistics.gram!, w);
  const [gptqError, sensitiveError] = [
    outputError(await weightsOf(gptq, "fc")),
    outputError(await weightsOf(sensitive, "fc")),
  ];
  assert.ok(gptqError <= sensitiveError * (1 + 1e-9), `gptq ${gptqError} vs ${sensitiveError}`);
  for (const name of ["conv", "fc"]) {
    const layer = neuralNetworkOf(gptq.spec)!.layers.find((l) => l.name === name)!;
    const weights = (
      layer.layer.value as {
        weights: { quantization: { QuantizationType: { case: string; value: unknown } } };
      }
    ).weights;
    assert.equal(weights.quantization.QuantizationType.case, "lookupTableQuantization", name);
    const table = (weights.quantization.QuantizationType.value as { floatValue: number[] })
      .floatValue;
    assert.equal(table.length, 4, `${name}: one 2-bit table`);
  }
  // The grouped conv's indices differ from nearest-entry ones somewhere: error feedback ran.
  assert.notDeepEqual(await weightsOf(gptq, "conv"), await weightsOf(sensitive, "conv"));
  const out = NeuralNetworkInterpreter.fromSpec(gptq.spec).predict(data[0]);
  assert.deepEqual(out.y.shape, [6, 3, 40]);
});

/** The network as a file in `dir`, and 2 samples of it as x.npy. */
async function cliFixture(dir: string) {
  const input = join(dir, "in.mlmodel");
  await writeFile(input, encodeModel(network()));
  const batch = samples(2);
  const data = join(dir, "x.npy");
  const values = Float32Array.from(batch.flatMap((s) => [...(s.x.data as Float32Array)]));
  await writeFile(data, writeNpy({ dtype: "fp32", shape: [2, 4, 5, 5], data: values }));
  return { input, data, batch };
}

test("quantize-weights --algorithm sensitive-kmeans or gptq-kmeans writes a model; bad flags fail on one line", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nn-sensitive-"));
  try {
    const { input, data, batch } = await cliFixture(dir);
    for (const algorithm of ["sensitive-kmeans", "gptq-kmeans"] as const) {
      const out = join(dir, `${algorithm}.mlmodel`);
      const ok = runCli(
        "quantize-weights",
        input,
        "-o",
        out,
        "--nbits",
        "2",
        "--mode",
        "kmeans_lut",
        "--algorithm",
        algorithm,
        "--data",
        `x=${data}`,
        "--json",
      );
      assert.equal(ok.status, 0, ok.stderr);
      const expected = await quantizeWeights(new MLModel(network()), {
        nbits: 2,
        mode: "kmeans_lut",
        algorithm,
        calibration: collectNeuralStatistics(new MLModel(network()), batch, { gram: true }),
      });
      const written = await loadModel(out);
      for (const name of ["conv", "fc"]) {
        assert.deepEqual(await weightsOf(written, name), await weightsOf(expected, name), name);
      }
    }
    const bad: [string[], RegExp][] = [
      [
        ["--mode", "kmeans_lut", "--algorithm", "nope"],
        /--algorithm: expected one of sensitive-kmeans, gptq-kmeans, got "nope"/,
      ],
      [
        ["--mode", "linear", "--algorithm", "sensitive-kmeans"],
        /--algorithm sensitive-kmeans needs --mode kmeans_lut/,
      ],
      [["--mode", "kmeans_lut", "--data", `x=${data}`], /calibrate --algorithm sensitive-kmeans/],
      [
        ["--mode", "kmeans_lut", "--algorithm", "sensitive-kmeans", "--data", `y=${data}`],
        /--data y: the model has no such input/,
      ],
    ];
    for (const [flags, message] of bad) {
      const failed = join(dir, "failed.mlmodel");
      const result = runCli("quantize-weights", input, "-o", failed, "--nbits", "2", ...flags);
      assert.equal(result.status, 1, flags.join(" "));
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.ok(!existsSync(failed));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("sensitive k-means per layer: only the layers that name it (or take the global one) get it", async () => {
  const model = new MLModel(network());
  const calibration = collectNeuralStatistics(model, samples(3), { gram: true });
  const sensitiveLayers = async (options: Parameters<typeof quantizeWeights>[1]) => {
    const names: string[] = [];
    const quantized = await quantizeWeights(model, {
      ...options,
      onField: (e) => e.importanceExponent !== undefined && names.push(e.layer),
    });
    return { quantized, names };
  };
  const kmeans = { nbits: 2, mode: "kmeans_lut" as const };
  const sensitive = { ...kmeans, algorithm: "sensitive-kmeans" as const };
  const mixed = await sensitiveLayers({ layers: { conv: kmeans, fc: sensitive }, calibration });
  assert.deepEqual(mixed.names, ["fc"]);
  const global = await sensitiveLayers({ ...sensitive, calibration });
  const plain = await quantizeWeights(model, kmeans);
  assert.deepEqual(await weightsOf(mixed.quantized, "fc"), await weightsOf(global.quantized, "fc"));
  assert.deepEqual(await weightsOf(mixed.quantized, "conv"), await weightsOf(plain, "conv"));
  // The global algorithm reaches the named k-means layers, not the linear ones.
  const flagged = await sensitiveLayers({
    layers: { conv: { nbits: 8 }, fc: kmeans },
    algorithm: "sensitive-kmeans",
    calibration,
  });
  assert.deepEqual(flagged.names, ["fc"]);
  await assert.rejects(
    quantizeWeights(model, { layers: { fc: sensitive } }),
    /layer fc: algorithm sensitive-kmeans needs calibration statistics/,
  );
  await assert.rejects(
    quantizeWeights(model, {
      layers: { fc: { nbits: 4, mode: "linear", algorithm: "sensitive-kmeans" } },
      calibration,
    }),
    /layer fc: algorithm sensitive-kmeans needs mode kmeans_lut, not linear/,
  );
});

test("quantize-weights --config: a layer naming sensitive-kmeans takes the sample flags", async () => {
  const dir = await mkdtemp(join(tmpdir(), "nn-sensitive-config-"));
  try {
    const { input, data, batch } = await cliFixture(dir);
    const config = join(dir, "recipe.yaml");
    const withConfig = (out: string) =>
      runCli("quantize-weights", input, "-o", out, "--config", config, "--data", `x=${data}`);
    await writeFile(
      config,
      "op_name_configs:\n  conv: { nbits: 8 }\n  fc: { nbits: 2, mode: kmeans_lut, algorithm: sensitive-kmeans }\n",
    );
    const out = join(dir, "out.mlmodel");
    const ok = withConfig(out);
    assert.equal(ok.status, 0, ok.stderr);
    const expected = await quantizeWeights(new MLModel(network()), {
      layers: { conv: { nbits: 8 }, fc: { nbits: 2, mode: "kmeans_lut" } },
      algorithm: "sensitive-kmeans",
      calibration: collectNeuralStatistics(new MLModel(network()), batch, { gram: true }),
    });
    const written = await loadModel(out);
    assert.deepEqual(await weightsOf(written, "fc"), await weightsOf(expected, "fc"));
    await writeFile(
      config,
      "op_name_configs:\n  fc: { nbits: 4, mode: linear, algorithm: sensitive-kmeans }\n",
    );
    const failed = join(dir, "failed.mlmodel");
    const bad = withConfig(failed);
    assert.equal(bad.status, 1);
    assert.match(
      bad.stderr,
      /recipe\.yaml: op_name_configs\.fc\.algorithm: sensitive-kmeans needs mode kmeans_lut/,
    );
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    assert.ok(!existsSync(failed));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
