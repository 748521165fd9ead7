import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseOptimizationConfig } from "../../src/config/index.js";
import type { Operation } from "../../src/format/gen/MIL_pb.js";
import { BlobFileWriter } from "../../src/format/blob/writer.js";
import { createFileWriter, openFileReader } from "../../src/format/io-node.js";
import { DEFAULT_WEIGHT_FILE, MLModel } from "../../src/format/model.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { floatToHalfArray } from "../../src/kernels/fp16.js";
import { WorkerPool } from "../../src/parallel/pool.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { ProgramBuilder } from "../../src/program/builder.js";
import { readTensorValue } from "../../src/program/values.js";

function randomHalf(shape: number[], seed: number): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(count);
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    values[i] = (state / 2 ** 32 - 0.5) * 2;
  }
  return { dtype: "fp16", shape, data: floatToHalfArray(values) };
}

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
  const dir = await mkdtemp(join(tmpdir(), "pal-pool-"));
  const path = join(dir, "weight.bin");
  const writer = await BlobFileWriter.create(await createFileWriter(path));
  const b = new ProgramBuilder("iOS18", writer);
  const x = b.input("x", "fp16", [1, 256]);
  const wide = b.linear(
    x,
    await b.constant("wide_w", randomHalf([512, 256], 3)),
    undefined,
    "wide",
  );
  const y = b.input("y", "fp16", [1, 512]);
  const across = await b.constant("across_w", randomHalf([512, 256], 5));
  b.output(wide);
  b.output(b.matmul(y, across, false, false, "across"));
  await writer.finish();
  const model = new MLModel(
    b.build(),
    new Map([[DEFAULT_WEIGHT_FILE, { path, open: () => openFileReader(path) }]]),
  );
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
