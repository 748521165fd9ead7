/**
 * For every deterministic golden case: our compressed output, decompressed by our
 * decompressor, equals coremltools' output decompressed the same way, weight by weight.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseOptimizationConfig, type OptimizationConfig } from "../../src/config/index.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { pruneWeights } from "../../src/passes/prune.js";
import { constValue, opName } from "../../src/program/ops.js";
import { readTensorValue } from "../../src/program/values.js";
import { allOperations } from "../../src/program/walk.js";
import { goldenCases, goldenPath } from "../support/golden.js";

type Pass = (model: MLModel, config: OptimizationConfig) => Promise<{ model: MLModel }>;
const PASSES: Record<string, Pass> = {
  linear_quantize_weights: (m, c) => linearQuantizeWeights(m, c as never),
  palettize_weights: (m, c) => palettizeWeights(m, c as never),
  prune_weights: (m, c) => pruneWeights(m, c as never),
};

/** k-means results may legitimately differ from coremltools' (ours are never worse). */
const deterministic = (name: string, config: Record<string, unknown>) =>
  !name.startsWith("pal_") ||
  ["uniform", "unique"].includes(String((config.global_config as { mode?: string })?.mode));

async function denseWeights(model: MLModel): Promise<Map<string, Uint8Array>> {
  const dense = await decompressWeights(model);
  const weights = new Map<string, Uint8Array>();
  try {
    if (dense.spec.Type.case !== "mlProgram") return weights;
    for (const { op } of allOperations(dense.spec.Type.value)) {
      const value = constValue(op);
      if (!value) continue;
      const tensor = await readTensorValue(value, dense, opName(op));
      // Weights only: coremltools' own cleanup renumbers small parameter consts on iOS18.
      if (tensor.dtype !== "fp16" && tensor.dtype !== "fp32") continue;
      if (tensor.data.length < 16) continue;
      const data = tensor.data as Uint8Array;
      weights.set(
        op.outputs[0].name,
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
    }
  } finally {
    await dense.close();
  }
  return weights;
}

const cases = goldenCases((c) => c.api in PASSES && deterministic(c.name, c.config));

test("deterministic golden cases are present", () =>
  assert.ok(cases.length >= 10, `${cases.length} cases`));

for (const golden of cases) {
  test(`${golden.name}: ours and coremltools' decompress to the same weights`, async () => {
    const base = await loadModel(goldenPath(golden.base));
    const reference = await loadModel(goldenPath(golden.output));
    try {
      const ours = (await PASSES[golden.api](base, parseOptimizationConfig(golden.config))).model;
      try {
        const [mine, theirs] = [await denseWeights(ours), await denseWeights(reference)];
        assert.deepEqual([...mine.keys()].sort(), [...theirs.keys()].sort());
        for (const [name, bytes] of theirs) {
          assert.ok(Buffer.from(mine.get(name)!).equals(Buffer.from(bytes)), `${name} differs`);
        }
      } finally {
        await ours.close();
      }
    } finally {
      await base.close();
      await reference.close();
    }
  });
}
