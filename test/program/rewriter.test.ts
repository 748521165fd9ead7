import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadModel } from "../../src/format/model.js";
import { halfToFloat, floatToHalf } from "../../src/kernels/fp16.js";
import { makeConstOperation, constValue, opName } from "../../src/program/ops.js";
import { rewriteWeights } from "../../src/program/rewriter.js";
import { readTensorValue } from "../../src/program/values.js";
import { allOperations } from "../../src/program/walk.js";
import { GOLDEN } from "../support/paths.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-rewriter-test-"));
after(() => rm(work, { recursive: true, force: true }));
const base = join(GOLDEN, "bases/zoo_fp16_ios18.mlpackage");
const WEIGHTS = "Data/com.apple.CoreML/weights/weight.bin";

test("a rewrite that changes nothing reproduces the model byte for byte", async () => {
  const model = await loadModel(base);
  const copy = await rewriteWeights(model, async () => undefined);
  await copy.save(join(work, "same.mlpackage"));
  await model.close();
  assert.deepEqual(
    await readFile(join(work, "same.mlpackage", WEIGHTS)),
    await readFile(join(base, WEIGHTS)),
  );
});

test("a visitor can replace a weight; other weights are carried over", async () => {
  const model = await loadModel(base);
  let visited = 0;
  const doubled = await rewriteWeights(
    model,
    async (ctx) => {
      visited++;
      if (opName(ctx.op) !== "fc2_weight_0_to_fp16") return undefined;
      const tensor = await ctx.read(constValue(ctx.op)!);
      const data = Uint16Array.from(tensor.data as Uint16Array, (h) =>
        floatToHalf(2 * halfToFloat(h)),
      );
      return { ops: [makeConstOperation(ctx.op.outputs[0].name, ctx.value({ ...tensor, data }))] };
    },
    { filter: (op) => op.type === "const", memoryBudget: 1024 },
  );
  const out = join(work, "doubled.mlpackage");
  await doubled.save(out);
  const reloaded = await loadModel(out);
  const program = (m: typeof model) =>
    m.spec.Type.case === "mlProgram" ? m.spec.Type.value : assert.fail();
  const before = new Map(
    [...allOperations(program(model))]
      .filter((s) => s.op.type === "const")
      .map((s) => [opName(s.op), s.op]),
  );
  assert.ok(visited > 10);
  for (const { op } of allOperations(program(reloaded))) {
    if (op.type !== "const") continue;
    const name = opName(op);
    const now = await readTensorValue(constValue(op)!, reloaded, name);
    const was = await readTensorValue(constValue(before.get(name)!)!, model, name);
    if (name === "fc2_weight_0_to_fp16") {
      const expected = Array.from(was.data as Uint16Array, (h) => floatToHalf(2 * halfToFloat(h)));
      assert.deepEqual(Array.from(now.data as Uint16Array), expected);
    } else {
      assert.deepEqual(now, was, name);
    }
  }
  await model.close();
  await reloaded.close();
});
