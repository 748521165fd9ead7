/** Reading the golden cases (coremltools outputs) and comparing our models with them. */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Operation, Value } from "../../src/format/gen/MIL_pb.js";
import type { MLModel } from "../../src/format/model.js";
import { opName } from "../../src/program/ops.js";
import { readTensorValue } from "../../src/program/values.js";
import { functionBlocks, walkOperations } from "../../src/program/walk.js";
import { GOLDEN } from "./paths.js";

export interface GoldenCase {
  name: string;
  base: string;
  api: string;
  config: Record<string, unknown>;
  output: string;
  summary: { specificationVersion: number; ops: { type: string; name: string }[] };
}

/** Golden cases whose base and output files are present (the fixtures hold a subset). */
export function goldenCases(filter: (c: GoldenCase) => boolean): GoldenCase[] {
  const all = JSON.parse(readFileSync(join(GOLDEN, "cases.json"), "utf8")) as {
    cases: GoldenCase[];
  };
  return all.cases.filter(
    (c) => filter(c) && existsSync(join(GOLDEN, c.base)) && existsSync(join(GOLDEN, c.output)),
  );
}

export function goldenPath(relative: string): string {
  return join(GOLDEN, relative);
}

function mainOps(model: MLModel): Operation[] {
  assert.equal(model.spec.Type.case, "mlProgram");
  const ops: Operation[] = [];
  for (const { block } of functionBlocks(model.spec.Type.value)) {
    for (const { op } of walkOperations(block)) ops.push(op);
  }
  return ops;
}

/** Literal values of an op other than its name: inline inputs and attributes. */
function literals(op: Operation): Map<string, Value> {
  const found = new Map<string, Value>();
  for (const [key, value] of Object.entries(op.attributes))
    if (key !== "name") found.set(key, value);
  for (const [key, argument] of Object.entries(op.inputs)) {
    argument.arguments.forEach((b, i) => {
      if (b.binding.case === "value") found.set(`${key}[${i}]`, b.binding.value);
    });
  }
  return found;
}

/** Weights (blob consts, constexpr ops) and the ops reading them, in program order. */
function weightsAndLayers(ops: Operation[]): Operation[] {
  const weights = new Set<string>();
  return ops.filter((op) => {
    const isWeight =
      op.type.startsWith("constexpr_") ||
      (op.type === "const" && op.attributes["val"]?.value.case === "blobFileValue");
    if (isWeight) {
      for (const output of op.outputs) weights.add(output.name);
      return true;
    }
    return Object.values(op.inputs).some((argument) =>
      argument.arguments.some((b) => b.binding.case === "name" && weights.has(b.binding.value)),
    );
  });
}

/**
 * Asserts that `ours` has the same ops (types in order; names of everything but the casts
 * coremltools renumbers) and bit-identical literal values in every compressed op.
 */
export async function assertSameProgram(
  ours: MLModel,
  golden: MLModel,
  label: string,
): Promise<void> {
  assert.equal(
    ours.spec.specificationVersion,
    golden.spec.specificationVersion,
    `${label}: spec version`,
  );
  // coremltools runs its cleanup passes when it re-serializes a program (renumbering casts,
  // duplicating index arithmetic): compare the weights and the ops computing with them.
  const a = weightsAndLayers(mainOps(ours));
  const b = weightsAndLayers(mainOps(golden));
  assert.deepEqual(
    a.map((op) => `${op.type} ${opName(op)}`),
    b.map((op) => `${op.type} ${opName(op)}`),
    `${label}: ops`,
  );
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(
      a[i].outputs.map((o) => o.type),
      b[i].outputs.map((o) => o.type),
      `${label}: ${opName(b[i])} output types`,
    );
    if (!b[i].type.startsWith("constexpr_")) continue;
    const ourValues = literals(a[i]);
    const goldenValues = literals(b[i]);
    assert.deepEqual(
      [...ourValues.keys()].sort(),
      [...goldenValues.keys()].sort(),
      `${label}: ${opName(b[i])} inputs`,
    );
    for (const [key, value] of goldenValues) {
      const where = `${label}: ${opName(b[i])}.${key}`;
      const expected = await readTensorValue(value, golden, where);
      const actual = await readTensorValue(ourValues.get(key)!, ours, where);
      assert.equal(actual.dtype, expected.dtype, `${where} dtype`);
      assert.deepEqual(actual.shape, expected.shape, `${where} shape`);
      const mismatch =
        (expected.data as ArrayLike<number>).length === actual.data.length
          ? Array.prototype.findIndex.call(
              expected.data,
              (v: number, j: number) => !Object.is(v, (actual.data as ArrayLike<number>)[j]),
            )
          : 0;
      assert.equal(
        mismatch,
        -1,
        `${where}: first differing element ${mismatch} (ours ${(actual.data as ArrayLike<number>)[mismatch]}, coremltools ${(expected.data as ArrayLike<number>)[mismatch]})`,
      );
    }
  }
}
