import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Operation } from "../../src/format/gen/MIL_pb.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { numericValues } from "../../src/kernels/values.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { constValue, opName } from "../../src/program/ops.js";
import { readTensorValue } from "../../src/program/values.js";
import { allOperations } from "../../src/program/walk.js";
import { GOLDEN } from "../support/paths.js";

interface GoldenCase {
  name: string;
  base: string;
  api: string;
  output: string;
  weight_mse: Record<string, number> | null;
}

const cases = (JSON.parse(readFileSync(join(GOLDEN, "cases.json"), "utf8")).cases as GoldenCase[])
  .filter((c) => c.api !== "quantize_weights")
  .filter((c) => existsSync(join(GOLDEN, c.output)) && existsSync(join(GOLDEN, c.base)));

function operations(model: MLModel): Operation[] {
  assert.equal(model.spec.Type.case, "mlProgram");
  return [...allOperations(model.spec.Type.value)].map((site) => site.op);
}

/** The tensor an op (found by name) reads on one input: inline, or from the const it names. */
async function inputTensor(model: MLModel, ops: Operation[], key: string): Promise<Tensor> {
  const dot = key.lastIndexOf(".");
  const [name, input] = [key.slice(0, dot), key.slice(dot + 1)];
  const op = ops.find((o) => opName(o) === name);
  assert.ok(op, `op ${name} exists`);
  const binding = op.inputs[input]?.arguments[0]?.binding;
  assert.ok(binding, `op ${name} has input ${input}`);
  if (binding.case === "value") return readTensorValue(binding.value, model, key);
  assert.equal(binding.case, "name");
  const producer = ops.find((o) => o.outputs.some((out) => out.name === binding.value));
  assert.equal(producer?.type, "const", `${key} is fed by a const`);
  return readTensorValue(constValue(producer)!, model, key);
}

function meanSquaredError(a: Tensor, b: Tensor): number {
  const x = numericValues(a);
  const y = numericValues(b);
  assert.equal(x.length, y.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += (x[i] - y[i]) ** 2;
  return x.length ? sum / x.length : 0;
}

const isConstant = (op: Operation) => op.type === "const" || op.type.startsWith("constexpr_");

function readsName(op: Operation, name: string): boolean {
  return Object.values(op.inputs).some((a) =>
    a.arguments.some((b) => b.binding.case === "name" && b.binding.value === name),
  );
}

function blockOutputs(model: MLModel): string[] {
  assert.equal(model.spec.Type.case, "mlProgram");
  return Object.values(model.spec.Type.value.functions).flatMap((fn) =>
    Object.values(fn.blockSpecializations).flatMap((block) => block.outputs),
  );
}

describe("decompressWeights on the golden cases", () => {
  for (const golden of cases) {
    it(golden.name, async () => {
      const base = await loadModel(join(GOLDEN, golden.base));
      const compressed = await loadModel(join(GOLDEN, golden.output));
      const dense = await decompressWeights(compressed);
      try {
        const ops = operations(dense);
        const baseOps = operations(base);
        assert.deepEqual(
          ops.filter((op) => op.type.startsWith("constexpr_")),
          [],
          "no constexpr op is left",
        );
        // The non-constant ops are those of the compressed model, untouched, and the program
        // computes the base's outputs.
        const compressedOps = operations(compressed).filter((op) => !isConstant(op));
        assert.deepEqual(
          ops.filter((op) => op.type !== "const"),
          compressedOps,
        );
        assert.deepEqual(blockOutputs(dense), blockOutputs(base));
        // Every const left is read by some op or is a block output.
        const read = new Set([
          ...ops
            .flatMap((op) => Object.values(op.inputs).flatMap((a) => a.arguments))
            .flatMap((a) => (a.binding.case === "name" ? [a.binding.value] : [])),
          ...blockOutputs(dense),
        ]);
        const unread = ops.filter((op) => op.type === "const" && !read.has(op.outputs[0].name));
        const unreadBefore = operations(compressed).filter(
          (op) =>
            op.type === "const" && !compressedOps.some((c) => readsName(c, op.outputs[0].name)),
        );
        assert.ok(unread.length <= unreadBefore.length);
        for (const [key, expected] of Object.entries(golden.weight_mse ?? {})) {
          const ours = await inputTensor(dense, ops, key);
          const reference = await inputTensor(base, baseOps, key);
          assert.equal(ours.dtype, reference.dtype, `${key} dtype`);
          assert.deepEqual([...ours.shape], [...reference.shape], `${key} shape`);
          const mse = meanSquaredError(ours, reference);
          if (expected < 1e-12 && mse < 1e-12) continue;
          assert.ok(
            Math.abs(mse - expected) <= 1e-6 * Math.abs(expected),
            `${key}: MSE ${mse} differs from the golden ${expected}`,
          );
        }
      } finally {
        await Promise.all([base.close(), compressed.close(), dense.close()]);
      }
    });
  }
});
