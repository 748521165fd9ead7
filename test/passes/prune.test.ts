import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  magnitudePrunerConfig,
  parseOptimizationConfig,
  thresholdPrunerConfig,
} from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";
import { BlobFileWriter } from "../../src/format/blob/writer.js";
import { createFileWriter, openFileReader } from "../../src/format/io-node.js";
import { DEFAULT_WEIGHT_FILE, loadModel, MLModel } from "../../src/format/model.js";
import { floatToHalfArray } from "../../src/kernels/fp16.js";
import { WorkerPool } from "../../src/parallel/pool.js";
import { ProgramBuilder } from "../../src/program/builder.js";
import { readTensorValue } from "../../src/program/values.js";
import type { Operation } from "../../src/format/gen/MIL_pb.js";
import { pruneWeights } from "../../src/passes/prune.js";
import { opName } from "../../src/program/ops.js";
import { tensorTypeInfo } from "../../src/program/types.js";
import { allOperations } from "../../src/program/walk.js";
import { assertSameProgram } from "../support/golden.js";
import { casesNamed, opsByName, readParameter, sparseMask } from "../support/sparse.js";

function program(model: MLModel): Operation[] {
  assert.equal(model.spec.Type.case, "mlProgram");
  if (model.spec.Type.case !== "mlProgram") return [];
  return [...allOperations(model.spec.Type.value)].map((site) => site.op);
}

function isDenseWeight(op: Operation): boolean {
  const info = tensorTypeInfo(op.outputs[0]?.type);
  return (
    op.type === "const" &&
    (info?.dtype === "fp16" || info?.dtype === "fp32") &&
    info.shape.reduce<number>((a, b) => a * (b ?? 0), 1) >= 10
  );
}

function signature(op: Operation): string {
  const outputs = op.outputs.map((o) => JSON.stringify(tensorTypeInfo(o.type)));
  return `${op.type} ${opName(op)} -> ${outputs.join(", ")}`;
}

describe("pruneWeights against coremltools' golden prune cases", () => {
  const opened: MLModel[] = [];
  after(async () => Promise.all(opened.map((m) => m.close())));
  for (const golden of casesNamed("prune_")) {
    it(`${golden.name}: same ops, types, masks and values`, async () => {
      const base = await loadModel(golden.basePath);
      const expected = await loadModel(golden.outputPath);
      opened.push(base, expected);
      const config = parseOptimizationConfig(golden.config);
      const { model, weights } = await pruneWeights(base, config as never);
      opened.push(model);
      await assertSameProgram(model, expected, golden.name);
      // coremltools re-runs its cleanup passes (renaming casts and the like): compare the
      // weights, i.e. the constexpr ops and the float consts left dense.
      const weightOps = (m: MLModel) =>
        program(m).filter((op) => op.type.startsWith("constexpr_") || isDenseWeight(op));
      assert.deepEqual(weightOps(model).map(signature), weightOps(expected).map(signature));
      const theirs = program(expected);
      const ourOps = opsByName(model);
      const theirOps = opsByName(expected);
      let sparse = 0;
      for (const op of theirs) {
        if (op.type !== "constexpr_sparse_to_dense") continue;
        const mine = ourOps.get(opName(op))!;
        assert.deepEqual(Object.keys(mine.inputs).sort(), Object.keys(op.inputs).sort());
        assert.deepEqual(Object.keys(mine.attributes).sort(), Object.keys(op.attributes).sort());
        for (const parameter of [
          "nonzero_data",
          "mask",
          ...(op.attributes.shape ? ["shape"] : []),
        ]) {
          const a = await readParameter(model, mine, parameter, ourOps);
          const b = await readParameter(expected, op, parameter, theirOps);
          assert.equal(a.dtype, b.dtype, `${opName(op)}.${parameter} dtype`);
          assert.deepEqual(a.shape, b.shape, `${opName(op)}.${parameter} shape`);
          assert.deepEqual(a.data, b.data, `${opName(op)}.${parameter} data`);
        }
        assert.deepEqual(
          await sparseMask(model, mine, ourOps),
          await sparseMask(expected, op, theirOps),
        );
        sparse++;
      }
      assert.equal(weights.length, sparse);
    });
  }
});

describe("pruneWeights round trip and errors", () => {
  const [golden] = casesNamed("prune_magnitude50__zoo_fp16_ios18");
  it("saves a model that loads back with the same sparse weights", { skip: !golden }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "prune-test-"));
    const base = await loadModel(golden.basePath);
    try {
      const config = { globalConfig: magnitudePrunerConfig({ targetSparsity: 0.5 }) };
      const { model } = await pruneWeights(base, config);
      const path = join(dir, "out.mlpackage");
      await model.save(path);
      const reloaded = await loadModel(path);
      const ops = opsByName(model);
      const again = opsByName(reloaded);
      for (const [name, op] of ops) {
        if (op.type !== "constexpr_sparse_to_dense") continue;
        assert.deepEqual(
          await sparseMask(reloaded, again.get(name)!, again),
          await sparseMask(model, op, ops),
        );
      }
      await Promise.all([model.close(), reloaded.close()]);
    } finally {
      await base.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects configs of the wrong kind", { skip: !golden }, async () => {
    const base = await loadModel(golden.basePath);
    try {
      const config = parseOptimizationConfig({
        config_type: "OpLinearQuantizerConfig",
        global_config: {},
      });
      await assert.rejects(pruneWeights(base, config as never), ConfigError);
    } finally {
      await base.close();
    }
  });
});

describe("pruner configs", () => {
  it("take coremltools' defaults", () => {
    const threshold = thresholdPrunerConfig();
    assert.equal(threshold.threshold, 1e-12);
    assert.equal(threshold.minimumSparsityPercentile, 0.5);
    assert.equal(threshold.weightThreshold, 2048);
    assert.equal(magnitudePrunerConfig({ targetSparsity: 0.5, blockSize: 4 }).dim, 0);
    assert.equal(magnitudePrunerConfig({ nMRatio: [2, 4] }).dim, 1);
  });

  it("reject invalid values with the field named", () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ target_sparsity: 1.5 }, /target_sparsity/],
      [{ target_sparsity: -0.1 }, /target_sparsity/],
      [{}, /exactly one of target_sparsity and n_m_ratio/],
      [{ target_sparsity: 0.5, n_m_ratio: [1, 2] }, /exactly one/],
      [{ n_m_ratio: [3, 2] }, /n_m_ratio: expected \[n, m\] with integers 0 <= n < m/],
      [{ n_m_ratio: [4, 4] }, /n_m_ratio: expected \[n, m\] with integers 0 <= n < m/],
      [{ n_m_ratio: [1, 2, 3] }, /n_m_ratio/],
      [{ target_sparsity: 0.5, block_size: 1 }, /block_size: must be an integer > 1/],
      [{ n_m_ratio: [1, 2], block_size: 4 }, /cannot be set together/],
      [{ target_sparsity: 0.5, dim: 1 }, /dim: can only be set/],
      [{ n_m_ratio: [1, 2], dim: 2 }, /dim: must be 0 or 1/],
    ];
    for (const [fields, message] of bad) {
      assert.throws(
        () =>
          parseOptimizationConfig({
            config_type: "OpMagnitudePrunerConfig",
            global_config: fields,
          }),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        JSON.stringify(fields),
      );
    }
    assert.throws(
      () =>
        parseOptimizationConfig({
          config_type: "OpThresholdPrunerConfig",
          global_config: { minimum_sparsity_percentile: 2 },
        }),
      /minimum_sparsity_percentile/,
    );
    assert.throws(
      () =>
        parseOptimizationConfig({
          config_type: "OpMagnitudePrunerConfig",
          op_type_configs: { matmul: { n_m_ratio: [2, 4] } },
        }),
      /does not support op type matmul/,
    );
  });
});

describe("pruneWeights with a worker pool", () => {
  it("gives the same masks and values as pruning inline", async () => {
    const dir = await mkdtemp(join(tmpdir(), "prune-pool-"));
    const path = join(dir, "weight.bin");
    const writer = await BlobFileWriter.create(await createFileWriter(path));
    const b = new ProgramBuilder("iOS18", writer);
    const x = b.input("x", "fp16", [1, 512]);
    const values = new Float32Array(256 * 512);
    for (let i = 0; i < values.length; i++) values[i] = Math.sin(i * 12.9898) * 2;
    const weight = await b.constant("big_w", {
      dtype: "fp16",
      shape: [256, 512],
      data: floatToHalfArray(values),
    });
    b.output(b.linear(x, weight, undefined, "big"));
    await writer.finish();
    const model = new MLModel(
      b.build(),
      new Map([[DEFAULT_WEIGHT_FILE, { path, open: () => openFileReader(path) }]]),
    );
    const pool = new WorkerPool(2);
    try {
      const config = { globalConfig: magnitudePrunerConfig({ targetSparsity: 0.3 }) };
      const pooled = await pruneWeights(model, config, { pool });
      const inline = await pruneWeights(model, config);
      const read = async (m: MLModel) => {
        const op = program(m).find((o) => o.type === "constexpr_sparse_to_dense")!;
        return Promise.all(
          ["mask", "nonzero_data"].map(async (key) => {
            const binding = op.inputs[key].arguments[0].binding;
            assert.equal(binding.case, "value");
            return [...(await readTensorValue(binding.value, m, key)).data];
          }),
        );
      };
      const [mask, nonzero] = await read(pooled.model);
      assert.deepEqual([mask, nonzero], await read(inline.model));
      // About 30% pruned (magnitudes tied with the percentile are all pruned).
      assert.ok(nonzero.length <= values.length * 0.7 && nonzero.length > values.length * 0.69);
      await Promise.all([pooled.model.close(), inline.model.close()]);
    } finally {
      await pool.close();
      await model.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
