import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { unpackSubByte } from "../../src/kernels/bitpack.js";
import { floatToHalfArray, halfToFloatArray } from "../../src/kernels/fp16.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import {
  kthSmallest,
  pruneByMagnitude,
  pruneByThreshold,
  pruneNM,
  type PrunableTensor,
  type PruneResult,
} from "../../src/kernels/prune.js";
import { sparseToDense } from "../../src/kernels/sparse.js";
import { constValue, opName } from "../../src/program/ops.js";
import { readTensorValue } from "../../src/program/values.js";
import { referencePruneByMagnitude } from "../support/prune-reference.js";
import { casesNamed, opsByName, readParameter, sparseMask } from "../support/sparse.js";

function fp32(shape: number[], values: number[]): PrunableTensor {
  return { dtype: "fp32", shape, data: Float32Array.from(values) };
}

/** The dense values of a pruned weight of `count` elements. */
function dense(result: PruneResult, count: number): number[] {
  assert.equal(result.kind, "sparse");
  if (result.kind !== "sparse") return [];
  const { mask, nonzeroData } = result.weight;
  const values = nonzeroData instanceof Uint16Array ? halfToFloatArray(nonzeroData) : nonzeroData;
  const bits = unpackSubByte(mask, 1, count, false) as Uint8Array;
  const tensor = sparseToDense({ dtype: "fp32", shape: [values.length], data: values }, bits, [
    count,
  ]);
  return Array.from(tensor.data as Float32Array);
}

describe("threshold pruning", () => {
  it("zeroes |w| <= threshold (inclusive), as in coremltools' example", () => {
    const weight = fp32([4], [0.3, -0.2, -0.01, 0.05]);
    assert.deepEqual(
      dense(pruneByThreshold(weight, 0.03, 0), weight.data.length),
      [0.3, -0.2, 0, 0.05].map(Math.fround),
    );
    assert.deepEqual(
      dense(pruneByThreshold(weight, 0.05, 0), weight.data.length),
      [0.3, -0.2, 0, 0].map(Math.fround),
    );
  });

  it("skips weights that end up less sparse than the minimum percentile", () => {
    const weight = fp32([4], [0.3, -0.2, -0.01, 0]);
    assert.equal(pruneByThreshold(weight, 0.03, 0.5).kind, "sparse"); // 2 of 4 zeros
    const skipped = pruneByThreshold(weight, 0.001, 0.5); // 1 of 4
    assert.equal(skipped.kind, "skipped");
  });

  it("compares fp16 weights with the threshold rounded to fp16", () => {
    // 0.0300 rounds to the half 0.029998779296875, so a half equal to that is pruned.
    const data = floatToHalfArray(Float32Array.from([0.03, 0.0301, 1, 1]));
    const result = pruneByThreshold({ dtype: "fp16", shape: [4], data }, 0.03, 0);
    assert.deepEqual(
      dense(result, 4).map((v) => v !== 0),
      [false, true, true, true],
    );
  });
});

describe("magnitude pruning", () => {
  it("prunes the lowest fraction with numpy's interpolated percentile (ties pruned)", () => {
    const weight = fp32([4], [0.3, -0.2, -0.01, 0.05]);
    assert.deepEqual(dense(pruneByMagnitude(weight, 0.75), weight.data.length), [
      Math.fround(0.3),
      0,
      0,
      0,
    ]);
    assert.deepEqual(
      dense(pruneByMagnitude(weight, 0.5), weight.data.length),
      [0.3, -0.2, 0, 0].map(Math.fround),
    );
    const ties = fp32([6], [1, 1, 1, 2, 3, 4]);
    assert.deepEqual(dense(pruneByMagnitude(ties, 0.1), ties.data.length), [0, 0, 0, 2, 3, 4]);
  });

  it("keeps everything at 0 and drops everything at 1", () => {
    const weight = fp32([3], [1, 0, -2]);
    const none = pruneByMagnitude(weight, 0);
    assert.ok(none.kind === "sparse");
    assert.deepEqual(Array.from(none.weight.mask), [0b101]);
    const all = pruneByMagnitude(weight, 1);
    assert.ok(all.kind === "sparse");
    assert.equal(all.weight.nonzeroData.length, 0);
  });

  it("prunes blocks by L2 norm, as in coremltools' block example", () => {
    const weight = fp32([4, 2], [1, 3, -6, -7, 0, 3, -9, 2]);
    const result = pruneByMagnitude(weight, 0.5, { blockSize: 2, dim: 0 });
    assert.deepEqual(dense(result, 8), [0, 3, 0, -7, 0, 0, -9, 0]);
  });

  it("pads a last partial block and skips blocks larger than half the channels", () => {
    // 5 rows in blocks of 2: rows 0-1, 2-3 and 4 alone.
    const weight = fp32([5, 1], [1, 1, 5, 5, 3]);
    const result = pruneByMagnitude(weight, 0.4, { blockSize: 2, dim: 0 });
    assert.deepEqual(dense(result, 5), [0, 0, 5, 5, 3]);
    assert.equal(pruneByMagnitude(weight, 0.4, { blockSize: 3, dim: 0 }).kind, "skipped");
  });

  it("selects order statistics exactly", () => {
    const values = Float32Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) / 7);
    const sorted = Array.from(values).sort((a, b) => a - b);
    for (const k of [0, 1, 499, 998, 999]) assert.equal(kthSmallest(values, k), sorted[k]);
  });
});

describe("n:m pruning", () => {
  const weight = fp32([4, 4], [3, 4, 7, 6, 1, 8, -3, -8, -2, -3, -4, 0, 5, 4, -3, -2]);

  it("zeroes the n smallest of every m along dim 1 (coremltools' example)", () => {
    assert.deepEqual(
      dense(pruneNM(weight, 1, 2, 1), weight.data.length),
      [0, 4, 7, 0, 0, 8, 0, -8, 0, -3, -4, 0, 5, 0, -3, 0],
    );
  });

  it("works along dim 0", () => {
    assert.deepEqual(
      dense(pruneNM(weight, 1, 2, 0), weight.data.length),
      [3, 0, 7, 0, 0, 8, 0, -8, 0, 0, -4, 0, 5, 4, 0, -2],
    );
  });

  it("skips when m is more than half the channels", () => {
    assert.equal(pruneNM(weight, 2, 4, 1).kind, "skipped");
  });
});

describe("masks", () => {
  it("put element i at bit i % 8 (numpy's little bit order)", () => {
    const weight = fp32([10], [1, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
    const result = pruneByThreshold(weight, 1e-12, 0);
    assert.ok(result.kind === "sparse");
    assert.deepEqual(Array.from(result.weight.mask), [0x81, 0x03]);
  });
});

interface GoldenConfig {
  threshold?: number;
  minimum_sparsity_percentile?: number;
  target_sparsity?: number;
  block_size?: number;
  n_m_ratio?: [number, number];
}

function pruneLikeGolden(weight: PrunableTensor, config: GoldenConfig): PruneResult {
  if (config.threshold !== undefined) {
    return pruneByThreshold(weight, config.threshold, config.minimum_sparsity_percentile ?? 0.5);
  }
  if (config.n_m_ratio) return pruneNM(weight, config.n_m_ratio[0], config.n_m_ratio[1], 1);
  const block = config.block_size ? { blockSize: config.block_size, dim: 0 as const } : undefined;
  return pruneByMagnitude(weight, config.target_sparsity!, block);
}

describe("golden prune cases (kernel level)", () => {
  const opened: MLModel[] = [];
  after(async () => Promise.all(opened.map((m) => m.close())));
  for (const golden of casesNamed("prune_")) {
    it(`${golden.name}: masks and values bit-identical`, async () => {
      const base = await loadModel(golden.basePath);
      const output = await loadModel(golden.outputPath);
      opened.push(base, output);
      const baseOps = opsByName(base);
      const ops = opsByName(output);
      const config = (golden.config as { global_config: GoldenConfig }).global_config;
      let checked = 0;
      for (const op of ops.values()) {
        if (op.type !== "constexpr_sparse_to_dense") continue;
        const source = baseOps.get(opName(op).replace(/_sparsified$/, ""))!;
        const weight = await readTensorValue(constValue(source)!, base, "base");
        const result = pruneLikeGolden(weight as PrunableTensor, config);
        assert.ok(result.kind === "sparse", opName(op));
        const mask = await sparseMask(output, op, ops);
        const nonzero = await readParameter(output, op, "nonzero_data", ops);
        const count = weight.data.length;
        assert.deepEqual(
          unpackSubByte(result.weight.mask, 1, count, false),
          mask,
          `${opName(op)} mask`,
        );
        assert.deepEqual(result.weight.nonzeroData, nonzero.data, `${opName(op)} values`);
        checked++;
      }
      assert.ok(checked > 0);
    });
  }
});

it("fp16 magnitude pruning on half patterns matches pruning decoded values", () => {
  let state = 12345;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0);
  for (const count of [10, 97, 4096]) {
    const bits = new Uint16Array(count);
    for (let i = 0; i < count; i++) {
      const r = next();
      // Mostly ordinary values, with many ties, zeros of both signs, infinities and NaNs.
      bits[i] =
        r % 17 === 0
          ? [0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x0001][r % 6]
          : (r & 0x8000) | (0x2000 + ((r >>> 16) % 0x2000));
    }
    const weight = { dtype: "fp16" as const, shape: [count], data: bits };
    for (const sparsity of [0, 0.01, 0.3, 0.5, 0.75, 0.999, 1]) {
      const result = pruneByMagnitude(weight, sparsity);
      assert.equal(result.kind, "sparse");
      if (result.kind !== "sparse") continue;
      assert.deepEqual(
        result.weight,
        referencePruneByMagnitude(weight, sparsity),
        `${count} elements, sparsity ${sparsity}`,
      );
    }
  }
});
