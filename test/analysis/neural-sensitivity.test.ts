import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseCandidates } from "../../src/analysis/candidates.js";
import { neuralSettings } from "../../src/analysis/neural-sensitivity.js";
import { toBinary } from "@bufbuild/protobuf";
import { chooseRecipe, recipeLayers } from "../../src/analysis/recipe.js";
import { applyRecipe } from "../../src/analysis/recipe-check.js";
import { quantizeWeightsSequentially } from "../../src/calibrate/neural-sequential.js";
import { collectNeuralStatistics } from "../../src/calibrate/neural-statistics.js";
import { ModelSchema } from "../../src/format/gen/Model_pb.js";
import { defaultCandidates, measureSensitivity } from "../../src/analysis/sensitivity.js";
import { OutputStats } from "../../src/runtime/compare.js";
import { loadModel } from "../../src/format/model.js";
import { neuralNetworkWeights } from "../../src/neural/weights.js";
import { quantizeWeights } from "../../src/passes/neural-quantize.js";
import { randomSamples } from "../../src/runtime/inputs.js";
import { loadRunner } from "../../src/runtime/runner.js";
import { runCli } from "../support/cli.js";
import { REPO_ROOT } from "../support/paths.js";
import { tempDir } from "../support/quality-models.js";

const work = await tempDir("nn-recipe");
after(() => rm(work, { recursive: true, force: true }));

/** A Create ML-shaped action classifier: a convolution, constants and an inner product. */
const FIXTURE = join(REPO_ROOT, "fixtures/nn/createml_action_classifier.mlmodel");

/** Each layer's weight fields: storage kind and bits. */
function storageOf(spec: Parameters<typeof neuralNetworkWeights>[0]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of neuralNetworkWeights(spec)) {
    const s = w.storage;
    out[`${w.layer}/${w.field}`] = s.kind === "quantized" ? `${s.quantization} ${s.nbits}` : s.kind;
  }
  return out;
}

test("NN sensitivity: one row per layer with weights, each trial a resumed run of that layer alone quantized", async () => {
  const model = await loadModel(FIXTURE);
  const runner = await loadRunner(model);
  const samples = randomSamples(runner.inputs, 3, 7);
  const table = await measureSensitivity(model, samples);
  assert.deepEqual(
    table.weights.map((w) => w.name),
    ["temporal", "joint_bias", "batch_axis", "rest", "logits"],
  );
  assert.equal(table.scores, true);
  assert.deepEqual(
    table.candidates.map((c) => c.label),
    ["int8/ch", "kmeans6", "kmeans4", "kmeans3", "kmeans2"],
  );
  assert.equal(table.trials.length, 25);
  const trial = (weight: string, candidate: string) =>
    table.trials.find((t) => t.weight === weight && t.candidate === candidate)!;
  assert.ok(trial("temporal", "int8/ch").snrDb > trial("temporal", "kmeans2").snrDb + 20);
  assert.ok(trial("logits", "kmeans2").top1 !== undefined);
  // 224 values at 8 bits, and a float32 scale and bias per channel (8 for the weights, 1 for the bias).
  assert.equal(trial("temporal", "int8/ch").bytes, 216 + 8 + 8 * 8 + 8);
  // The resumed trial gives what running the whole quantized model gives.
  const whole = await quantizeWeights(model, {
    layers: { temporal: { nbits: 3, mode: "kmeans_lut" } },
  });
  const [reference, quantized] = [runner, await loadRunner(whole)];
  const stats = new OutputStats(table.output);
  for (const sample of samples) {
    stats.add(reference.predict(sample)[table.output], quantized.predict(sample)[table.output]);
  }
  assert.ok(Math.abs(stats.result().snrDb - trial("temporal", "kmeans3").snrDb) < 1e-6);
});

test("quantize_weights per layer: named layers get their own bits and mode, others the global ones or none", async () => {
  const model = await loadModel(FIXTURE);
  const layers = {
    temporal: { nbits: 4, mode: "kmeans_lut" as const },
    logits: { nbits: 8 },
  };
  const only = storageOf((await quantizeWeights(model, { layers })).spec);
  assert.equal(only["temporal/weights"], "lut 4");
  assert.equal(only["temporal/bias"], "lut 4");
  assert.equal(only["logits/weights"], "linear 8");
  assert.equal(only["joint_bias/data"], "float32");
  const mixed = storageOf((await quantizeWeights(model, { nbits: 6, layers })).spec);
  assert.equal(mixed["temporal/weights"], "lut 4");
  assert.equal(mixed["joint_bias/data"], "linear 6");
  await assert.rejects(
    quantizeWeights(model, { layers: { nope: { nbits: 4 } } }),
    /the model has no layer named nope/,
  );
  await assert.rejects(
    quantizeWeights(model, { layers: { logits: { nbits: 9 } } }),
    /layer logits: nbits must be 16 \(float16\) or 1 to 8, not 9/,
  );
});

test("NN recipe on the CLI: a per-layer config quantize-weights --config applies; bad configs fail in one line", async () => {
  const out = join(work, "recipe.yaml");
  const run = runCli("recipe", FIXTURE, "-o", out, "--bits", "6", "--samples", "3", "--json");
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout) as {
    predicted: { bitsPerWeight: number };
    measured: { bitsPerWeight: number; top1: number };
    choices: { weight: string; candidate: string | null }[];
  };
  assert.ok(report.predicted.bitsPerWeight <= 6);
  assert.ok(Math.abs(report.measured.bitsPerWeight - report.predicted.bitsPerWeight) < 1e-9);
  const yaml = readFileSync(out, "utf8");
  assert.match(
    yaml,
    /config_type: quantize_weights\nop_name_configs:\n {2}# \S+: [\d.]+ bits; alone: output SNR/,
  );
  assert.equal((report as { fitting?: string }).fitting, undefined);
  // Measured compensated: the recipe says to apply it so.
  const compensatedOut = join(work, "recipe-c.yaml");
  const compensated = runCli(
    "recipe",
    FIXTURE,
    ...["-o", compensatedOut, "--bits", "6", "--samples", "3", "--compensate"],
  );
  assert.equal(compensated.status, 0, compensated.stderr);
  assert.ok(
    compensated.stdout.includes(
      `apply it with: coreml-optimize quantize-weights ${FIXTURE} -o OUT.mlmodel --config ${compensatedOut} --compensate`,
    ),
    compensated.stdout,
  );
  const quantized = join(work, "out.mlmodel");
  const apply = runCli("quantize-weights", FIXTURE, "-o", quantized, "--config", out, "--json");
  assert.equal(apply.status, 0, apply.stderr);
  const storage = storageOf((await loadModel(quantized)).spec);
  for (const choice of report.choices) {
    if (!choice.candidate) continue;
    const expected = choice.candidate === "int8/ch" ? "linear 8" : `lut ${choice.candidate.at(-1)}`;
    const fields = Object.entries(storage).filter(([k]) => k.startsWith(`${choice.weight}/`));
    assert.ok(fields.length > 0 && fields.every(([, s]) => s === expected), choice.weight);
  }

  const bad = async (name: string, text: string, message: RegExp, ...flags: string[]) => {
    const config = join(work, name);
    await writeFile(config, text);
    const target = join(work, `${name}.mlmodel`);
    const result = runCli("quantize-weights", FIXTURE, "-o", target, "--config", config, ...flags);
    assert.equal(result.status, 1, name);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.equal(existsSync(target), false);
  };
  await bad(
    "unknown.yaml",
    "op_name_configs:\n  nope: { nbits: 4 }\n",
    /unknown\.yaml: op_name_configs: the model has no layer named nope/,
  );
  await bad(
    "nbits.yaml",
    "op_name_configs:\n  logits: { nbits: 9 }\n",
    /nbits\.yaml: op_name_configs\.logits\.nbits: expected 16 or 1 to 8, got 9/,
  );
  await bad(
    "mode.yaml",
    "op_name_configs:\n  logits: { nbits: 4, mode: best }\n",
    /mode\.yaml: op_name_configs\.logits\.mode: expected one of linear/,
  );
  await bad(
    "both.yaml",
    "op_name_configs:\n  logits: { nbits: 4 }\n",
    /give --nbits \(every layer alike\) or --config FILE/,
    "--nbits",
    "8",
  );
});

test("candidates files: quantize_weights settings for networks, any bits", () => {
  const [lin6] = parseCandidates({
    candidates: [{ label: "lin6", config_type: "quantize_weights", nbits: 6 }],
  });
  assert.deepEqual(neuralSettings(lin6.config), { nbits: 6, mode: "linear" });
  assert.throws(
    () =>
      parseCandidates({
        candidates: [{ label: "x", config_type: "quantize_weights", nbits: 12 }],
      }),
    /candidates\[0\]\.nbits: expected 16 or 1 to 8, got 12/,
  );
  assert.match(
    neuralSettings(defaultCandidates().at(-1)!.config) as string,
    /per channel, rounded to nearest/,
  );
});

test("NN sensitive k-means candidates: trials and recipes calibrate on the table's samples", async () => {
  const model = await loadModel(FIXTURE);
  const runner = await loadRunner(model);
  const samples = randomSamples(runner.inputs, 3, 11);
  const candidates = parseCandidates({
    candidates: [
      { label: "kmeans3", config_type: "quantize_weights", nbits: 3, mode: "kmeans_lut" },
      {
        label: "skm3",
        config_type: "quantize_weights",
        nbits: 3,
        mode: "kmeans_lut",
        algorithm: "sensitive-kmeans",
      },
    ],
  });
  assert.deepEqual(neuralSettings(candidates[1].config), {
    nbits: 3,
    mode: "kmeans_lut",
    algorithm: "sensitive-kmeans",
  });
  const table = await measureSensitivity(model, samples, { candidates });
  const trial = (weight: string, candidate: string) =>
    table.trials.find((t) => t.weight === weight && t.candidate === candidate)!;
  // The trial is the whole model with that layer alone given sensitive k-means, each sample
  // judged with the statistics of the samples of the other parity (two folds).
  const folds = await Promise.all(
    [0, 1].map(async (fold) => {
      const whole = await quantizeWeights(model, {
        layers: { logits: { nbits: 3, mode: "kmeans_lut", algorithm: "sensitive-kmeans" } },
        calibration: collectNeuralStatistics(
          model,
          samples.filter((_, i) => i % 2 !== fold),
          { gram: true },
        ),
      });
      return loadRunner(whole);
    }),
  );
  const stats = new OutputStats(table.output);
  samples.forEach((sample, i) => {
    const got = folds[i % 2].predict(sample)[table.output];
    stats.add(runner.predict(sample)[table.output], got);
  });
  assert.ok(Math.abs(stats.result().snrDb - trial("logits", "skm3").snrDb) < 1e-6);
  // A recipe that keeps it: applied with the samples, refused without.
  const recipe = chooseRecipe(
    { ...table, trials: table.trials.filter((t) => t.candidate === "skm3") },
    { bits: 32 },
  );
  assert.ok(recipe.choices.some((c) => c.candidate === "skm3"));
  await assert.rejects(
    applyRecipe(model, recipe),
    /sensitive k-means layers need calibration samples/,
  );
  const applied = await applyRecipe(model, recipe, { samples });
  assert.ok(applied.bytesAfter.size > 0);
  await applied.model.close();
  // Sequential: the recipe's layers fitted in network order, as quantizeWeightsSequentially does.
  const sequential = await applyRecipe(model, recipe, { samples, sequential: true });
  const expected = await quantizeWeightsSequentially(model, samples, {
    layers: recipeLayers(recipe),
  });
  assert.deepEqual(
    toBinary(ModelSchema, sequential.model.spec),
    toBinary(ModelSchema, expected.spec),
  );
});
