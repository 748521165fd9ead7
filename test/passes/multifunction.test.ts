import assert from "node:assert/strict";
import { test } from "node:test";
import {
  linearQuantizerConfig,
  palettizerConfig,
  magnitudePrunerConfig,
} from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";
import type { MLModel } from "../../src/format/model.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { pruneWeights } from "../../src/passes/prune.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { randomHalf } from "../support/tensors.js";
import { prefillDecode, weightFileBytes } from "../support/multifunction.js";

async function run(model: MLModel, functionName: string, tokens: number) {
  const interpreter = await Interpreter.load(model, { functionName });
  const x = randomHalf([1, tokens, 256], 99);
  return interpreter.predict({ x }).head_out.data as Float32Array;
}

const int4Block = {
  globalConfig: linearQuantizerConfig({
    mode: "linear_symmetric",
    dtype: "int4",
    granularity: "per_block",
    blockSize: 32,
  }),
};

test("int4 per block: the weight prefill and decode share is compressed once and stays shared", async () => {
  const model = await prefillDecode();
  const result = await linearQuantizeWeights(model, int4Block);
  const shared = result.weights.filter((w) => w.name === "w");
  assert.deepEqual(
    shared.map((w) => [w.functionName, w.sharedWith?.functionName, w.bytesAfter > 0]),
    [
      ["prefill", undefined, true],
      ["decode", "prefill", false],
    ],
  );
  // 256×256 int4 data (32 KiB) and fp16 scales (4 KiB) once, two 32×256 heads, headers.
  const bytes = await weightFileBytes(result.model);
  const once = (256 * 256) / 2 + 256 * 8 * 2 + 2 * ((32 * 256) / 2 + 32 * 8 * 2);
  assert.ok(
    bytes >= once && bytes < once + 4096,
    `weight file ${bytes} bytes, expected about ${once}`,
  );
  // Both functions still compute what the dense model computes (up to int4 error).
  for (const [fn, tokens] of [
    ["prefill", 8],
    ["decode", 1],
  ] as const) {
    const dense = await run(model, fn, tokens);
    const quantized = await run(result.model, fn, tokens);
    let err = 0,
      ref = 0;
    for (let i = 0; i < dense.length; i++) {
      err += (dense[i] - quantized[i]) ** 2;
      ref += dense[i] ** 2;
    }
    assert.ok(10 * Math.log10(ref / err) > 15, `${fn}: SNR too low`);
  }
  // Decompressing keeps the sharing too: one dense 128 KiB weight, not two.
  const dense = await decompressWeights(result.model);
  const denseBytes = await weightFileBytes(dense);
  assert.ok(
    denseBytes < 256 * 256 * 2 + 2 * 32 * 256 * 2 + 4096,
    `decompressed: ${denseBytes} bytes`,
  );
  for (const m of [result.model, dense]) await m.close();
  await model.close();
});

test("identical bytes in two blobs are stored once after compression", async () => {
  const model = await prefillDecode({ copyDecodeWeight: true });
  const before = await weightFileBytes(model);
  assert.ok(before > 2 * 256 * 256 * 2, "the input stores the weight twice");
  const result = await palettizeWeights(model, {
    globalConfig: palettizerConfig({ nbits: 4, granularity: "per_tensor" }),
  });
  const w = result.weights.filter((r) => r.name === "w");
  assert.equal(w[1].sharedWith?.functionName, "prefill");
  assert.equal(w[1].bytesBefore, 256 * 256 * 2, "the input stored it a second time");
  const bytes = await weightFileBytes(result.model);
  assert.ok(bytes < (256 * 256) / 2 + 2 * ((32 * 256) / 2) + 4096, `palettized: ${bytes} bytes`);
  await result.model.close();
  await model.close();
});

test("pruning shares too; --function limits the work to one function", async () => {
  const model = await prefillDecode();
  const pruned = await pruneWeights(model, {
    globalConfig: magnitudePrunerConfig({ targetSparsity: 0.5 }),
  });
  assert.equal(pruned.weights.filter((w) => w.sharedWith).length, 1);
  await pruned.model.close();
  const decodeOnly = await linearQuantizeWeights(model, int4Block, { functionName: "decode" });
  assert.deepEqual([...new Set(decodeOnly.weights.map((w) => w.functionName))], ["decode"]);
  await decodeOnly.model.close();
  await assert.rejects(
    linearQuantizeWeights(model, int4Block, { functionName: "verify" }),
    /no function named verify \(it has prefill, decode\)/,
  );
  await model.close();
});

test("different configs for one shared weight are an error naming both ops", async () => {
  const model = await prefillDecode();
  await assert.rejects(
    linearQuantizeWeights(model, {
      globalConfig: int4Block.globalConfig,
      opNameConfigs: { proj_1: linearQuantizerConfig({ dtype: "int8" }) },
    }),
    (error: Error) =>
      error instanceof ConfigError &&
      error.message.includes("prefill/w (read by proj_8) and decode/w (read by proj_1)"),
  );
  await model.close();
});
