import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  linearQuantizerConfig,
  type OpLinearQuantizerConfig,
  type OptimizationConfig,
} from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";
import type { Operation } from "../../src/format/gen/MIL_pb.js";
import { BlobFileWriter } from "../../src/format/blob/writer.js";
import { createFileWriter, openFileReader } from "../../src/format/io-node.js";
import { DEFAULT_WEIGHT_FILE, MLModel, loadModel } from "../../src/format/model.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { WorkerPool } from "../../src/parallel/pool.js";
import { ProgramBuilder, buildModel } from "../../src/program/builder.js";
import { opName } from "../../src/program/ops.js";
import type { Target } from "../../src/program/targets.js";
import { tensorTypeInfo } from "../../src/program/types.js";
import { readTensorValue } from "../../src/program/values.js";
import { randomHalf } from "../support/tensors.js";

/** A model using weights as linear, conv, conv_transpose, matmul (both transposes) and gather. */
async function zooModel(target: Target): Promise<MLModel> {
  const dir = await mkdtemp(join(tmpdir(), "lq-"));
  const path = join(dir, "weight.bin");
  const writer = await BlobFileWriter.create(await createFileWriter(path));
  const b = new ProgramBuilder(target, writer);
  const x = b.input("x", "fp16", [1, 64]);
  const fc = b.linear(x, await b.constant("fc_w", randomHalf([96, 64], 1)), undefined, "fc");
  const mm = b.matmul(fc, await b.constant("mm_y", randomHalf([96, 48], 2)), false, false, "mm");
  const mmt = b.matmul(mm, await b.constant("mmt_y", randomHalf([80, 48], 3)), false, true, "mmt");
  const img = b.input("img", "fp16", [1, 16, 8, 8]);
  const conv = b.conv(img, await b.constant("conv_w", randomHalf([32, 16, 3, 3], 4)), {}, "conv");
  const deconv = b.convTranspose(
    conv,
    await b.constant("deconv_w", randomHalf([32, 8, 4, 4], 5)),
    {},
    "deconv",
  );
  const ids = b.input("ids", "int32", [4]);
  const emb = b.gather(await b.constant("emb_w", randomHalf([100, 32], 6)), ids, 0, "emb");
  const small = b.linear(
    mmt,
    await b.constant("small_w", randomHalf([20, 80], 7)),
    undefined,
    "small",
  );
  for (const v of [small, deconv, emb]) b.output(v);
  await writer.finish();
  return new MLModel(
    b.build(),
    new Map([[DEFAULT_WEIGHT_FILE, { path, open: () => openFileReader(path) }]]),
  );
}

function opsOf(model: MLModel): Operation[] {
  assert.equal(model.spec.Type.case, "mlProgram");
  return Object.values(model.spec.Type.value.functions.main.blockSpecializations)[0].operations;
}

async function quantizedScales(model: MLModel): Promise<Map<string, readonly (number | null)[]>> {
  const shapes = new Map<string, readonly (number | null)[]>();
  for (const op of opsOf(model)) {
    if (op.type !== "constexpr_blockwise_shift_scale") continue;
    const scale = op.inputs.scale.arguments[0].binding;
    assert.equal(scale.case, "value");
    shapes.set(opName(op), tensorTypeInfo(scale.value.type)!.shape);
  }
  return shapes;
}

const global = (
  options: Parameters<typeof linearQuantizerConfig>[0] = {},
): OptimizationConfig<OpLinearQuantizerConfig> => ({
  globalConfig: linearQuantizerConfig(options),
});

test("per-channel axes follow each consumer; small weights stay dense", async () => {
  const model = await zooModel("iOS18");
  const { model: out, weights } = await linearQuantizeWeights(model, global());
  const scales = await quantizedScales(out);
  assert.deepEqual(Object.fromEntries(scales), {
    fc_w_quantized: [96, 1], // linear: [out, in]
    mm_y_quantized: [1, 48], // matmul y: [in, out]
    mmt_y_quantized: [80, 1], // matmul y transposed: [out, in]
    conv_w_quantized: [32, 1, 1, 1],
    deconv_w_quantized: [1, 8, 1, 1], // conv_transpose: [in, out, ...]
    emb_w_quantized: [100, 1],
  });
  assert.ok(
    opsOf(out).some((op) => opName(op) === "small_w" && op.type === "const"),
    "1600 <= 2048 stays",
  );
  assert.equal(weights.length, 6);
  for (const w of weights) {
    assert.ok(w.bytesAfter < w.bytesBefore, w.name);
    assert.ok(w.snrDb! > 35, `${w.name} snr ${w.snrDb}`);
  }
  // Consumers read the quantized weights.
  const fc = opsOf(out).find((op) => opName(op) === "fc")!;
  assert.equal(fc.inputs.weight.arguments[0].binding.value, "fc_w_quantized");
  // The round trip through a saved package keeps everything.
  const dir = await mkdtemp(join(tmpdir(), "lq-out-"));
  await out.save(join(dir, "q.mlpackage"));
  const reloaded = await loadModel(join(dir, "q.mlpackage"));
  const data = opsOf(reloaded).find((op) => opName(op) === "emb_w_quantized")!.inputs.data
    .arguments[0].binding;
  assert.equal(data.case, "value");
  const tensor = await readTensorValue(data.value, reloaded, "emb");
  assert.equal(tensor.dtype, "int8");
  assert.equal(tensor.data.length, 3200);
  await Promise.all([reloaded.close(), out.close(), model.close()]);
});

test("weight_threshold: only tensors with more elements are quantized", async () => {
  const model = await zooModel("iOS18");
  // fc_w 6144, mm_y 4608, conv_w 4608 elements are > 4096; deconv_w has exactly 4096.
  const { weights } = await linearQuantizeWeights(model, global({ weightThreshold: 4096 }));
  assert.deepEqual(
    weights.map((w) => w.name),
    ["fc_w", "mm_y", "conv_w"],
  );
  const all = await linearQuantizeWeights(model, global({ weightThreshold: 0 }));
  assert.equal(all.weights.length, 7);
  await Promise.all([model.close(), all.model.close()]);
});

test("iOS16: 4-bit and per-block need iOS18 unless the target is raised", async () => {
  const model = await zooModel("iOS16");
  await assert.rejects(
    linearQuantizeWeights(model, global({ dtype: "int4" })),
    (e: Error) =>
      e instanceof ConfigError && /4-bit quantization needs iOS18.*iOS16/.test(e.message),
  );
  await assert.rejects(
    linearQuantizeWeights(model, global({ granularity: "per_block", blockSize: 16 })),
    /per_block quantization needs iOS18/,
  );
  const { model: raised, weights } = await linearQuantizeWeights(model, global({ dtype: "int4" }), {
    raiseTarget: "iOS18",
  });
  assert.equal(raised.spec.specificationVersion, 9);
  assert.equal(
    raised.spec.Type.case === "mlProgram" && raised.spec.Type.value.functions.main.opset,
    "CoreML8",
  );
  assert.equal(weights.length, 6);
  assert.ok(opsOf(raised).some((op) => op.type === "constexpr_blockwise_shift_scale"));
  assert.equal(model.spec.specificationVersion, 7, "input untouched");
  const int8 = await linearQuantizeWeights(model, global());
  assert.ok(opsOf(int8.model).some((op) => op.type === "constexpr_affine_dequantize"));
  await Promise.all([model.close(), raised.close(), int8.model.close()]);
});

test("op-level configs: null skips, conflicts and unknown op names fail", async () => {
  const model = await zooModel("iOS18");
  const { weights } = await linearQuantizeWeights(model, {
    globalConfig: linearQuantizerConfig(),
    opTypeConfigs: {
      gather: null,
      conv: linearQuantizerConfig({ dtype: "uint8", mode: "linear" }),
    },
    opNameConfigs: { fc: null },
  });
  assert.deepEqual(
    weights.map((w) => w.name),
    ["mm_y", "mmt_y", "conv_w", "deconv_w"],
  );
  assert.equal((weights[2].config as OpLinearQuantizerConfig).dtype, "uint8");
  await assert.rejects(
    linearQuantizeWeights(model, {
      globalConfig: linearQuantizerConfig(),
      opNameConfigs: { nope: null },
    }),
    /op_name_configs\.nope: the model has no op named nope/,
  );
  await model.close();
});

test("per_block with a block size not dividing the input axis skips the weight", async () => {
  const model = await zooModel("iOS18");
  const { weights } = await linearQuantizeWeights(
    model,
    global({ granularity: "per_block", blockSize: 32 }),
  );
  // conv_w's input axis has 16 channels, deconv_w's 32; fc 64, mm_y 96, mmt_y 48 (no), emb 32.
  assert.deepEqual(
    weights.map((w) => w.name),
    ["fc_w", "mm_y", "deconv_w", "emb_w"],
  );
  await model.close();
});

test("the worker pool gives the same bytes as inline quantization", async () => {
  const dir = await mkdtemp(join(tmpdir(), "lq-pool-"));
  const path = join(dir, "weight.bin");
  const writer = await BlobFileWriter.create(await createFileWriter(path));
  const b = new ProgramBuilder("iOS18", writer);
  const x = b.input("x", "fp16", [1, 512]);
  b.output(b.linear(x, await b.constant("big_w", randomHalf([256, 512], 9)), undefined, "big"));
  await writer.finish();
  const model = new MLModel(
    b.build(),
    new Map([[DEFAULT_WEIGHT_FILE, { path, open: () => openFileReader(path) }]]),
  );
  const pool = new WorkerPool(2);
  try {
    const config = global({ dtype: "int4", granularity: "per_block", blockSize: 32 });
    const pooled = await linearQuantizeWeights(model, config, { pool });
    const inline = await linearQuantizeWeights(model, config);
    const read = async (m: MLModel) => {
      const op = opsOf(m).find((o) => o.type === "constexpr_blockwise_shift_scale")!;
      return Promise.all(
        ["data", "scale"].map(async (key) => {
          const binding = op.inputs[key].arguments[0].binding;
          assert.equal(binding.case, "value");
          return [...((await readTensorValue(binding.value, m, key)).data as Uint8Array)];
        }),
      );
    };
    assert.deepEqual(await read(pooled.model), await read(inline.model));
    assert.equal(pooled.weights[0].snrDb, inline.weights[0].snrDb);
    await Promise.all([pooled.model.close(), inline.model.close()]);
  } finally {
    await pool.close();
    await model.close();
  }
});

test("models for targets older than iOS16 need the target raised, with a clear message", async () => {
  const model = await buildModel("iOS15", async (b) => {
    const x = b.input("x", "fp32", [1, 64]);
    const w = await b.constant("w", {
      dtype: "fp32",
      shape: [64, 64],
      data: Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i)),
    });
    b.output(b.linear(x, w, undefined, "fc"));
  });
  try {
    await assert.rejects(
      linearQuantizeWeights(model, { globalConfig: linearQuantizerConfig() }),
      /compressing weights needs iOS16 or newer, the model targets iOS15: raise the target \(CLI --target ios16/,
    );
    const raised = await linearQuantizeWeights(
      model,
      { globalConfig: linearQuantizerConfig() },
      { raiseTarget: "iOS16" },
    );
    assert.equal(raised.weights.length, 1);
    await raised.model.close();
  } finally {
    await model.close();
  }
});

test("weights holding an infinity (any position, either sign) are left dense", async () => {
  const positions = [0, 1, 6, 7, 63];
  const model = await buildModel("iOS18", async (b) => {
    let x = b.input("x", "fp16", [1, 8]);
    for (const [i, position] of positions.entries()) {
      const weight = randomHalf([8, 8], 20 + i);
      (weight.data as Uint16Array)[position] = i % 2 ? 0xfc00 : 0x7c00;
      x = b.linear(x, await b.constant(`inf${i}_w`, weight), undefined, `inf${i}`);
    }
    x = b.linear(x, await b.constant("finite_w", randomHalf([8, 8], 30)), undefined, "finite");
    b.output(x);
  });
  const { weights } = await linearQuantizeWeights(model, global({ weightThreshold: 0 }));
  assert.deepEqual(
    weights.map((w) => w.name),
    ["finite_w"],
  );
  await model.close();
});
