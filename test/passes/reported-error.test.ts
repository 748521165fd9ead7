import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { getWeightsMetadata } from "../../src/analysis/weights-metadata.js";
import { parseOptimizationConfig } from "../../src/config/index.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import { numericValues } from "../../src/kernels/values.js";
import type { CompressionResult } from "../../src/passes/driver.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { pruneWeights } from "../../src/passes/prune.js";
import { FIXTURES } from "../support/paths.js";

const BASE = join(FIXTURES, "golden/bases/zoo_fp16_ios18.mlpackage");

/** Each compressed weight's SNR measured on the saved values: decompressed against the input. */
async function measuredSnr(
  input: MLModel,
  result: CompressionResult,
): Promise<Map<string, number>> {
  const before = await getWeightsMetadata(input, { weightThreshold: 0 });
  const after = await getWeightsMetadata(result.model, { weightThreshold: 0 });
  const measured = new Map<string, number>();
  for (const { name } of result.weights) {
    const original = numericValues(before.get(name)!.value);
    const [, compressed] = [...after].find(([key]) => key.startsWith(`${name}_`))!;
    const values = numericValues(compressed.value);
    let signal = 0;
    let noise = 0;
    for (let i = 0; i < original.length; i++) {
      signal += original[i] ** 2;
      noise += (original[i] - values[i]) ** 2;
    }
    measured.set(name, 10 * Math.log10(signal / noise));
  }
  return measured;
}

test("palettization and pruning report each weight's SNR as its saved values give it", async () => {
  const model = await loadModel(BASE);
  const palettize = (config: object) =>
    palettizeWeights(
      model,
      parseOptimizationConfig({
        config_type: "OpPalettizerConfig",
        global_config: config,
      }) as never,
      { workers: 0 },
    );
  try {
    const runs: [string, Promise<CompressionResult>][] = [
      ["kmeans", palettize({ mode: "kmeans", nbits: 4 })],
      ["uniform", palettize({ mode: "uniform", nbits: 3 })],
      ["grouped", palettize({ nbits: 2, granularity: "per_grouped_channel", group_size: 16 })],
      ["vector", palettize({ nbits: 4, cluster_dim: 4, weight_threshold: 4000 })],
      [
        "pruned",
        pruneWeights(
          model,
          parseOptimizationConfig({
            config_type: "OpMagnitudePrunerConfig",
            global_config: { target_sparsity: 0.4 },
          }) as never,
        ),
      ],
    ];
    for (const [what, run] of runs) {
      const result = await run;
      try {
        assert.ok(result.weights.length > 0, what);
        const measured = await measuredSnr(model, result);
        for (const weight of result.weights) {
          const expected = measured.get(weight.name)!;
          assert.ok(
            Math.abs(weight.snrDb! - expected) < 1e-6,
            `${what} ${weight.name}: reported ${weight.snrDb}, measured ${expected}`,
          );
        }
      } finally {
        await result.model.close();
      }
    }
  } finally {
    await model.close();
  }
});
