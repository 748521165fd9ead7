import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { inspectModel } from "../../src/analysis/inspect.js";
import { loadModel } from "../../src/format/model.js";
import { neuralNetworkWeights } from "../../src/neural/weights.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { GOLDEN } from "../support/paths.js";

test("decompressWeights turns quantized neural-network layers back into float32 weights", async () => {
  const quantized = await loadModel(join(GOLDEN, "cases/nn_linear8.mlmodel"));
  const inspected = await inspectModel(quantized);
  assert.ok(inspected.weights.some((w) => w.storage[0]?.description === "linear 8-bit"));
  const seen: string[] = [];
  const dense = await decompressWeights(quantized, {
    onDecompressed: ({ type }) => seen.push(type),
  });
  const weights = neuralNetworkWeights(dense.spec).filter((w) => w.storage.kind !== "empty");
  assert.ok(weights.length > 0);
  assert.ok(
    weights.every((w) => w.storage.kind === "float32"),
    "every weight is float32 again",
  );
  assert.equal(
    seen.length,
    neuralNetworkWeights(quantized.spec).filter((w) => w.storage.kind === "quantized").length,
  );
  const after = await inspectModel(dense);
  assert.equal(after.totals.compressed, 0);
  assert.equal(after.totals.denseBytes, inspected.totals.denseBytes);
  await quantized.close();
});
