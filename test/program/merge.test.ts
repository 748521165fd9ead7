import assert from "node:assert/strict";
import { test } from "node:test";
import { linearQuantizerConfig } from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";
import type { MLModel } from "../../src/format/model.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { buildModel } from "../../src/program/builder.js";
import { mergeModels } from "../../src/program/merge.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { weightFileBytes } from "../support/multifunction.js";
import { randomHalf } from "../support/tensors.js";

/** A base 256×256 weight (the same data in every model) plus an adapter of its own. */
function adapted(seed: number): Promise<MLModel> {
  return buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp16", [1, 4, 256]);
    const base = b.linear(
      x,
      await b.constant("base", randomHalf([256, 256], 1)),
      undefined,
      "base_proj",
    );
    const adapter = await b.constant("adapter", randomHalf([16, 256], seed));
    b.output(b.linear(base, adapter, undefined, "adapter_out"));
  });
}

async function run(model: MLModel, functionName?: string): Promise<Float32Array> {
  const interpreter = await Interpreter.load(model, functionName ? { functionName } : {});
  return interpreter.predict({ x: randomHalf([1, 4, 256], 7) }).adapter_out.data as Float32Array;
}

test("merge stores the identical base once and each function computes what its source did", async () => {
  const a = await adapted(2);
  const b = await adapted(3);
  const result = await mergeModels([
    { model: a, as: "style_a" },
    { model: b, as: "style_b" },
  ]);
  assert.deepEqual(result.blobs, { referenced: 4, stored: 3 });
  assert.equal(result.bytesSaved, 256 * 256 * 2);
  const bytes = await weightFileBytes(result.model);
  assert.ok(bytes < 256 * 256 * 2 + 2 * 16 * 256 * 2 + 1024, `${bytes} bytes`);
  assert.equal(result.model.spec.description?.defaultFunctionName, "style_a");
  assert.deepEqual(
    result.model.spec.description?.functions.map((f) => [f.name, f.input[0].name]),
    [
      ["style_a", "x"],
      ["style_b", "x"],
    ],
  );
  assert.deepEqual(await run(result.model, "style_a"), await run(a));
  assert.deepEqual(await run(result.model, "style_b"), await run(b));
  await result.model.close();

  // Compressed models too: each quantized on its own, the identical int4 base is stored once.
  const config = {
    globalConfig: linearQuantizerConfig({ dtype: "int4", granularity: "per_block", blockSize: 32 }),
  };
  const qa = await linearQuantizeWeights(a, config);
  const qb = await linearQuantizeWeights(b, config);
  const merged = await mergeModels([
    { model: qa.model, as: "style_a" },
    { model: qb.model, as: "style_b" },
  ]);
  // int4 data and fp16 scales of the base, once.
  assert.equal(merged.bytesSaved, (256 * 256) / 2 + 256 * 8 * 2);
  assert.deepEqual(await run(merged.model, "style_b"), await run(qb.model));
  for (const m of [merged.model, qa.model, qb.model, a, b]) await m.close();
});

test("merge refuses two functions with one name and an unknown default", async () => {
  const a = await adapted(2);
  await assert.rejects(
    mergeModels([
      { model: a, label: "a.mlpackage" },
      { model: a, label: "b.mlpackage" },
    ]),
    (e: Error) =>
      e instanceof ConfigError &&
      e.message ===
        "b.mlpackage:main and a.mlpackage:main would both be function main: rename one (=NAME)",
  );
  await assert.rejects(
    mergeModels([{ model: a, functionName: "decode", label: "a.mlpackage" }]),
    /a.mlpackage: no function named decode \(it has main\)/,
  );
  await assert.rejects(
    mergeModels(
      [
        { model: a, as: "x" },
        { model: a, as: "y" },
      ],
      { defaultFunction: "z" },
    ),
    /--default z: no merged function has that name \(x, y\)/,
  );
  await a.close();
});
