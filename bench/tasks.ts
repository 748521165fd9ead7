/** Benchmark tasks: each reads a model and (mostly) writes one, timed in its own process. */
import { copyFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  linearQuantizerConfig,
  magnitudePrunerConfig,
  palettizerConfig,
} from "../src/config/index.js";
import { loadModel, type MLModel } from "../src/format/model.js";
import { WorkerPool } from "../src/parallel/pool.js";
import { decompressWeights } from "../src/passes/decompress.js";
import { linearQuantizeWeights } from "../src/passes/linear-quantize.js";
import { palettizeWeights } from "../src/passes/palettize.js";
import { pruneWeights } from "../src/passes/prune.js";
import { constValue, opName } from "../src/program/ops.js";
import { rewriteWeights } from "../src/program/rewriter.js";
import { readTensorValue } from "../src/program/values.js";
import { allOperations } from "../src/program/walk.js";

export interface BenchTask {
  run(input: string, output: string): Promise<void>;
  /** Runs on the output of this task instead of the generated model. */
  from?: string;
}

/** Loads the input, runs `transform` with a worker pool and saves the result. */
async function transformModel(
  input: string,
  output: string,
  transform: (model: MLModel, pool: WorkerPool) => Promise<MLModel>,
): Promise<void> {
  const model = await loadModel(input);
  const pool = new WorkerPool();
  try {
    const result = await transform(model, pool);
    await result.save(output);
    await result.close();
  } finally {
    await pool.close();
    await model.close();
  }
}

const WEIGHTS = "Data/com.apple.CoreML/weights/weight.bin";

export const TASKS: Record<string, BenchTask> = {
  /** Reads every weight tensor (random access by offset). */
  /** A plain copy of the weight file: the speed the I/O allows. */
  file_copy: {
    run: async (input, output) => {
      await mkdir(output, { recursive: true });
      await copyFile(join(input, WEIGHTS), join(output, "weight.bin"));
    },
  },
  read: { run: readAll },
  /** Streams every weight through the rewriter into a new package. */
  copy: { run: copyModel },
  /** int8 per-channel symmetric linear quantization. */
  quantize: {
    run: (input, output) =>
      transformModel(
        input,
        output,
        async (model, pool) =>
          (await linearQuantizeWeights(model, { globalConfig: linearQuantizerConfig() }, { pool }))
            .model,
      ),
  },
  quantize_int4_block32: {
    run: (input, output) =>
      transformModel(input, output, async (model, pool) => {
        const config = linearQuantizerConfig({
          dtype: "int4",
          granularity: "per_block",
          blockSize: 32,
        });
        return (await linearQuantizeWeights(model, { globalConfig: config }, { pool })).model;
      }),
  },
  prune_magnitude50: {
    run: (input, output) =>
      transformModel(
        input,
        output,
        async (model, pool) =>
          (
            await pruneWeights(
              model,
              { globalConfig: magnitudePrunerConfig({ targetSparsity: 0.5 }) },
              { pool },
            )
          ).model,
      ),
  },
  /** 50 % magnitude pruning, then int8 on the kept values (joint), from the pruned model. */
  prune50_int8_joint: {
    from: "prune_magnitude50",
    run: (input, output) =>
      transformModel(
        input,
        output,
        async (model, pool) =>
          (
            await linearQuantizeWeights(
              model,
              { globalConfig: linearQuantizerConfig() },
              { pool, joint: true },
            )
          ).model,
      ),
  },
  /** 4-bit k-means palettization, one table per tensor. */
  palettize4: {
    run: (input, output) =>
      transformModel(
        input,
        output,
        async (model, pool) =>
          (
            await palettizeWeights(
              model,
              { globalConfig: palettizerConfig({ nbits: 4 }) },
              { pool },
            )
          ).model,
      ),
  },
  /** 4-bit k-means palettization, one table per group of 16 output channels. */
  palettize4_group16: {
    run: (input, output) =>
      transformModel(input, output, async (model, pool) => {
        const config = palettizerConfig({
          nbits: 4,
          granularity: "per_grouped_channel",
          groupSize: 16,
        });
        return (await palettizeWeights(model, { globalConfig: config }, { pool })).model;
      }),
  },
  /** Back to dense fp16 from the int8 model. */
  decompress: {
    from: "quantize",
    run: (input, output) => transformModel(input, output, (model) => decompressWeights(model)),
  },
};

async function readAll(input: string): Promise<void> {
  const model = await loadModel(input);
  try {
    if (model.spec.Type.case !== "mlProgram") return;
    for (const { op } of allOperations(model.spec.Type.value)) {
      const value = constValue(op);
      if (value) await readTensorValue(value, model, opName(op));
    }
  } finally {
    await model.close();
  }
}

async function copyModel(input: string, output: string): Promise<void> {
  const model = await loadModel(input);
  try {
    const copy = await rewriteWeights(model, async () => undefined);
    await copy.save(output);
    await copy.close();
  } finally {
    await model.close();
  }
}
