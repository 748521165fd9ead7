/**
 * Every neural network in ../shared/models runs, and compares with its quantized versions
 * (8-bit linear, and float16 where it holds float32 weights) on a seeded random sample: the
 * outputs are finite, float16 stays close, and classifiers keep their label.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadModel, type MLModel } from "../../src/format/model.js";
import { neuralNetworkWeights } from "../../src/neural/weights.js";
import { quantizeWeights } from "../../src/passes/neural-quantize.js";
import { compareOutputs } from "../../src/runtime/compare.js";
import { randomSamples } from "../../src/runtime/inputs.js";
import { loadRunner } from "../../src/runtime/runner.js";
import { SHARED } from "../support/paths.js";

function mlmodelFiles(): string[] {
  if (!SHARED) return [];
  const root = join(SHARED, "models");
  return readdirSync(root, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) =>
      readdirSync(join(root, entry.name))
        .filter((file) => file.endsWith(".mlmodel"))
        .map((file) => join(root, entry.name, file)),
    );
}

describe("shared neural networks against their quantized versions", { skip: !SHARED }, () => {
  const opened: MLModel[] = [];
  after(async () => Promise.all(opened.map((m) => m.close())));

  for (const file of mlmodelFiles()) {
    it(`${file.split("/").slice(-2).join("/")} runs, and compares at 8 and 16 bits`, async () => {
      const model = await loadModel(file);
      opened.push(model);
      const runner = await loadRunner(model);
      const [sample] = randomSamples(runner.inputs, 1, 0);
      const reference = runner.predict(sample);
      for (const [name, tensor] of Object.entries(reference)) {
        if (tensor.dtype !== "string") {
          const bad = (tensor.data as Float32Array).findIndex((v) => !Number.isFinite(v));
          assert.equal(bad, -1, `${name}[${bad}]`);
        }
      }
      const float32 = neuralNetworkWeights(model.spec).some((w) => w.storage.kind === "float32");
      for (const nbits of float32 ? [8, 16] : [8]) {
        const quantized = await quantizeWeights(model, { nbits });
        opened.push(quantized);
        const candidate = (await loadRunner(quantized)).predict(sample);
        for (const output of compareOutputs([reference], [candidate])) {
          const label = `${nbits} bits, ${output.name}`;
          assert.equal(output.nonFinite, undefined, label);
          if (output.labels && nbits === 16) assert.equal(output.top1Agreement, 1, label);
          if (!output.labels) {
            assert.ok(!Number.isNaN(output.snrDb), label);
            if (nbits === 16) assert.ok(output.snrDb > 25, `${label}: ${output.snrDb} dB`);
          }
        }
      }
    });
  }
});
