import assert from "node:assert/strict";
import { test } from "node:test";
import { parseOptimizationConfig } from "../../src/config/index.js";
import type { Operation } from "../../src/format/gen/MIL_pb.js";
import type { MLModel } from "../../src/format/model.js";
import { WorkerPool } from "../../src/parallel/pool.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { buildModel } from "../../src/program/builder.js";
import { readTensorValue } from "../../src/program/values.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { halfToFloatArray } from "../../src/kernels/fp16.js";
import { randomHalf } from "../support/tensors.js";

function lutOps(model: MLModel): Operation[] {
  assert.equal(model.spec.Type.case, "mlProgram");
  const block = Object.values(model.spec.Type.value.functions.main.blockSpecializations)[0];
  return block.operations.filter((op) => op.type === "constexpr_lut_to_dense");
}

async function storedInputs(model: MLModel): Promise<number[][]> {
  const out: number[][] = [];
  for (const op of lutOps(model)) {
    for (const key of ["indices", "lut"]) {
      const binding = op.inputs[key].arguments[0].binding;
      assert.equal(binding.case, "value");
      const tensor = await readTensorValue(binding.value, model, key);
      out.push(Array.from(tensor.data as ArrayLike<number>));
    }
  }
  return out;
}

// Large enough to be split into chunks across workers, whose indices the workers then pack:
// 4-bit indices (two per byte), 3-bit ones (chunks of 4,096 × 3 bits still start on a byte),
// and a weight clustered along its input axis, whose indices are not packed by the workers.
test("palettizing on worker threads gives the same tables and indices as inline", async () => {
  const model = await buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp16", [1, 256]);
    const wide = await b.constant("wide_w", randomHalf([512, 256], 3));
    const y = b.input("y", "fp16", [1, 512]);
    const across = await b.constant("across_w", randomHalf([512, 256], 5));
    b.output(b.linear(x, wide, undefined, "wide"));
    b.output(b.matmul(y, across, false, false, "across"));
  });
  const pool = new WorkerPool(2);
  try {
    for (const nbits of [4, 3]) {
      const config = parseOptimizationConfig({
        config_type: "OpPalettizerConfig",
        global_config: {
          mode: "kmeans",
          nbits,
          granularity: "per_grouped_channel",
          group_size: 16,
        },
      }) as Parameters<typeof palettizeWeights>[1];
      const pooled = await palettizeWeights(model, config, { pool });
      const inline = await palettizeWeights(model, config, { workers: 0 });
      assert.equal(lutOps(pooled.model).length, 2);
      assert.deepEqual(await storedInputs(pooled.model), await storedInputs(inline.model));
      await Promise.all([pooled.model.close(), inline.model.close()]);
    }
  } finally {
    await pool.close();
    await model.close();
  }
});

/** A deterministic fp32 tensor of Gaussian-like values (sums of uniforms), as weights are. */
function randomFloat(shape: number[], seed: number): Tensor {
  const half = randomHalf(shape, seed);
  const other = randomHalf(shape, seed + 1);
  const a = halfToFloatArray(half.data as Uint16Array);
  const b = halfToFloatArray(other.data as Uint16Array);
  return { dtype: "fp32", shape, data: Float32Array.from(a, (v, i) => 0.05 * (v + b[i])) };
}

// Vector tables, one per tensor: each weight is one worker job, which gets the gathered doubles
// (fp32) or the half patterns (fp16) and packs its indices when they are stored in point order.
test("vector palettization on 2 workers stores what it stores inline, with the same error", async () => {
  const model = await buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp32", [1, 96]);
    const w = await b.constant("w", randomFloat([128, 96], 11));
    const y = b.input("y", "fp32", [1, 128]);
    const across = await b.constant("across_w", randomFloat([128, 64], 13));
    b.output(b.linear(x, w, undefined, "wide"));
    b.output(b.matmul(y, across, false, false, "across"));
  });
  const pool = new WorkerPool(2);
  try {
    const config = parseOptimizationConfig({
      config_type: "OpPalettizerConfig",
      global_config: { mode: "kmeans", nbits: 4, cluster_dim: 2 },
    }) as Parameters<typeof palettizeWeights>[1];
    const pooled = await palettizeWeights(model, config, { pool });
    const inline = await palettizeWeights(model, config, { workers: 0 });
    assert.equal(lutOps(pooled.model).length, 2);
    assert.deepEqual(await storedInputs(pooled.model), await storedInputs(inline.model));
    assert.deepEqual(
      pooled.weights.map((w) => w.snrDb),
      inline.weights.map((w) => w.snrDb),
    );
    assert.ok(pooled.weights.every((w) => w.snrDb! > 10));
    await Promise.all([pooled.model.close(), inline.model.close()]);
  } finally {
    await pool.close();
    await model.close();
  }
});
