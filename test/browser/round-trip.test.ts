/**
 * A full round trip through the browser entry point only: package files in memory -> quantize
 * -> files -> load -> decompress, with no Node platform installed (this file imports nothing
 * of the library but dist/src/browser.js; the files are read here the way a page would get them).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import test from "node:test";
import {
  decompressWeights,
  FormatError,
  getWeightsMetadata,
  inspectModel,
  linearQuantizeWeights,
  loadModelFromFiles,
  modelToFiles,
  palettizeWeights,
  parseOptimizationConfig,
  UnsupportedError,
  type MLModel,
  type OpLinearQuantizerConfig,
  type OpPalettizerConfig,
  type OptimizationConfig,
  type Tensor,
} from "../../src/browser.js";
import { halfToFloatArray } from "../../src/browser.js";
import { readTree } from "../support/files.js";
import { FIXTURES } from "../support/paths.js";

const PACKAGE = join(FIXTURES, "golden/bases/zoo_fp16_ios18.mlpackage");
const NN_MODEL = join(FIXTURES, "golden/bases/nn.mlmodel");

function floats(tensor: Tensor): Float64Array {
  return Float64Array.from(
    tensor.dtype === "fp16"
      ? halfToFloatArray(tensor.data as Uint16Array)
      : (tensor.data as Float32Array),
  );
}

/** The decompressed value of weight `name` (decompression names it after the compressed op). */
function restoredValue(restored: Map<string, Float64Array>, name: string): Float64Array {
  const match = [...restored].find(([key]) => key === name || key.startsWith(`${name}_`));
  assert.ok(match, `${name} is missing after decompression`);
  return match[1];
}

async function weights(model: MLModel): Promise<Map<string, Float64Array>> {
  const metadata = await getWeightsMetadata(model, { weightThreshold: 0 });
  return new Map([...metadata].map(([name, m]) => [name, floats(m.value)]));
}

test(
  "quantize, save to files, load and decompress through the browser entry point",
  {
    skip: !existsSync(PACKAGE),
  },
  async () => {
    const files = readTree(PACKAGE);
    const model = await loadModelFromFiles(files);
    const original = await weights(model);
    assert.ok(original.size > 0);

    const config = parseOptimizationConfig({
      config_type: "OpLinearQuantizerConfig",
      global_config: { mode: "linear_symmetric", dtype: "int8", weight_threshold: 0 },
    }) as OptimizationConfig<OpLinearQuantizerConfig>;
    const { model: quantized, weights: report } = await linearQuantizeWeights(model, config);
    assert.ok(report.length > 0);
    // New weights are held in memory, not in temporary files.
    for (const source of quantized.weightFiles.values()) assert.equal(source.path, undefined);
    await assert.rejects(quantized.save("out.mlpackage"), UnsupportedError);

    const saved = await modelToFiles(quantized);
    assert.ok(saved.has("Manifest.json"));
    assert.ok([...saved.keys()].some((p) => p.endsWith("weights/weight.bin")));
    const smaller = [...saved.values()].reduce((n, b) => n + b.length, 0);
    const before = [...files.values()].reduce((n, b) => n + b.length, 0);
    assert.ok(smaller < before, `int8 package (${smaller} bytes) is smaller than fp16 (${before})`);

    // Paths as a folder picker gives them: under the package's own folder.
    const picked = new Map([...saved].map(([p, b]) => [`zoo.mlpackage/${p}`, b]));
    const reloaded = await loadModelFromFiles(picked);
    const { totals } = await inspectModel(reloaded);
    assert.equal(totals.compressed, report.length);
    assert.ok(totals.storedBytes < totals.denseBytes);

    const restored = await weights(await decompressWeights(reloaded));
    assert.equal(restored.size, original.size);
    for (const [name, values] of original) {
      const back = restoredValue(restored, name);
      assert.equal(back.length, values.length, name);
      const scale = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 127;
      for (let i = 0; i < values.length; i++) {
        // Half a quantization step, plus fp16 rounding of the dequantized value.
        assert.ok(
          Math.abs(back[i] - values[i]) <= scale * 0.5 + Math.abs(values[i]) * 1e-3 + 1e-6,
          name,
        );
      }
    }
  },
);

test(
  "palettization runs inline without worker threads",
  { skip: !existsSync(PACKAGE) },
  async () => {
    const model = await loadModelFromFiles(readTree(PACKAGE));
    const config = parseOptimizationConfig({
      config_type: "OpPalettizerConfig",
      global_config: { mode: "kmeans", nbits: 2, weight_threshold: 0 },
    }) as OptimizationConfig<OpPalettizerConfig>;
    const { model: palettized, weights: report } = await palettizeWeights(model, config);
    assert.ok(report.length > 0);
    const restored = await weights(
      await decompressWeights(await loadModelFromFiles(await modelToFiles(palettized))),
    );
    for (const { name } of report) {
      // Per-tensor 2-bit tables: each weight has at most 4 distinct values.
      assert.ok(new Set(restoredValue(restored, name)).size <= 4, name);
    }
  },
);

test(
  "a single .mlmodel loads from its bytes and saves back to one file",
  {
    skip: !existsSync(NN_MODEL),
  },
  async () => {
    const bytes = new Uint8Array(readFileSync(NN_MODEL));
    const model = await loadModelFromFiles({ "nn.mlmodel": bytes });
    assert.equal(model.format, "mlmodel");
    const files = await modelToFiles(model);
    assert.deepEqual([...files.keys()], ["model.mlmodel"]);
    const again = await loadModelFromFiles(files);
    assert.deepEqual(again.spec, model.spec);
  },
);

test("files that are neither a package nor one model are refused", async () => {
  await assert.rejects(
    loadModelFromFiles({ "a.bin": new Uint8Array(1), "b.bin": new Uint8Array(1) }),
    (error) => error instanceof FormatError && /no Manifest\.json/.test(error.message),
  );
  await assert.rejects(
    loadModelFromFiles({ "Manifest.json": new TextEncoder().encode("{}") }),
    FormatError,
  );
});
