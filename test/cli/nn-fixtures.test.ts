/**
 * predict, compare and quantize-weights --check on the converter-shaped neural networks of
 * fixtures/nn/ (a TensorFlow-style LSTM classifier with loops and branches, and a Create
 * ML-style action classifier), as a user runs them.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runCli } from "../support/cli.js";
import { ACTIONS, ACTIVITIES } from "../support/nn-fixtures.js";
import { FIXTURES } from "../support/paths.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-nn-fixtures-"));
after(() => rm(work, { recursive: true, force: true }));

const MODELS = [
  {
    file: "tf_lstm_classifier.mlmodel",
    label: "activity",
    probabilities: "activityProbability",
    classes: ACTIVITIES,
  },
  {
    file: "createml_action_classifier.mlmodel",
    label: "label",
    probabilities: "labelProbabilities",
    classes: ACTIONS,
  },
];

for (const { file, label, probabilities, classes } of MODELS) {
  const model = join(FIXTURES, "nn", file);

  test(`${file}: predict gives a label and a probability per class`, () => {
    const result = runCli("predict", model, "--json");
    assert.equal(result.status, 0, result.stderr);
    const outputs = (
      JSON.parse(result.stdout) as {
        outputs: Record<string, { shape: number[]; values?: string[]; mean?: number }>;
      }
    ).outputs;
    assert.deepEqual(outputs[probabilities].shape, [1, classes.length]);
    assert.ok(Math.abs(outputs[probabilities].mean! * classes.length - 1) < 1e-5);
    assert.ok(classes.includes(outputs[label].values![0]));
  });

  test(`${file}: quantize-weights --check and compare measure what quantization did`, () => {
    const out = join(work, file.replace(".mlmodel", "-int8.mlmodel"));
    const quantized = runCli(
      "quantize-weights",
      model,
      "-o",
      out,
      "--nbits",
      "8",
      "--check",
      "3",
      "--json",
    );
    assert.equal(quantized.status, 0, quantized.stderr);
    const compared = runCli("compare", model, out, "--samples", "3", "--json");
    assert.equal(compared.status, 0, compared.stderr);
    const report = JSON.parse(compared.stdout) as {
      outputs: { name: string; snrDb: number; top1Agreement?: number; labels?: boolean }[];
    };
    const scores = report.outputs.find((o) => o.name === probabilities)!;
    assert.ok(scores.snrDb > 40 && scores.snrDb < Infinity, `SNR ${scores.snrDb}`);
    assert.equal(report.outputs.find((o) => o.name === label)!.top1Agreement, 1);
  });
}
