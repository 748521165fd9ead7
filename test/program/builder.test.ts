import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadModel } from "../../src/format/model.js";
import { floatToHalfArray } from "../../src/kernels/fp16.js";
import { buildModel } from "../../src/program/builder.js";
import { constValue, opName } from "../../src/program/ops.js";
import { readTensorValue } from "../../src/program/values.js";
import { allOperations } from "../../src/program/walk.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-builder-test-"));
after(() => rm(work, { recursive: true, force: true }));

test("a built program saves as an .mlpackage that reads back with its weights", async () => {
  const weight = floatToHalfArray(Float32Array.from({ length: 64 * 32 }, (_, i) => Math.sin(i)));
  const model = await buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp16", [1, 32]);
    const w = await b.constant("w", { dtype: "fp16", shape: [64, 32], data: weight });
    const bias = await b.constant("bias", {
      dtype: "fp16",
      shape: [64],
      data: new Uint16Array(64),
    });
    b.output(b.unary("relu", b.linear(x, w, bias)));
  });
  const path = join(work, "linear.mlpackage");
  await model.save(path);
  await model.close();
  const loaded = await loadModel(path);
  try {
    assert.equal(loaded.spec.specificationVersion, 9);
    const program =
      loaded.spec.Type.case === "mlProgram"
        ? loaded.spec.Type.value
        : assert.fail("not an ML program");
    const ops = [...allOperations(program)];
    assert.deepEqual(
      ops.map((o) => o.op.type),
      ["const", "const", "linear", "relu"],
    );
    assert.equal(ops[0].opset, "CoreML8");
    const w = ops.find((o) => opName(o.op) === "w")!.op;
    assert.equal(constValue(w)!.value.case, "blobFileValue");
    const read = await readTensorValue(constValue(w)!, loaded, "w");
    assert.deepEqual(read.shape, [64, 32]);
    assert.deepEqual(Array.from(read.data as Uint16Array), Array.from(weight));
  } finally {
    await loaded.close();
  }
});

test("immediate fp16 values decode from unaligned protobuf bytes", async () => {
  const model = await buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp16", [1, 8]);
    const gamma = await b.constant("gamma", {
      dtype: "fp16",
      shape: [8],
      data: new Uint16Array(8).fill(0x3c00),
    });
    const beta = await b.constant("beta", { dtype: "fp16", shape: [8], data: new Uint16Array(8) });
    b.output(b.layerNorm(x, gamma, beta, 1e-5, "ln"));
  });
  const path = join(work, "ln.mlpackage");
  await model.save(path);
  await model.close();
  const loaded = await loadModel(path);
  const program = loaded.spec.Type.case === "mlProgram" ? loaded.spec.Type.value : assert.fail();
  for (const { op } of allOperations(program)) {
    if (op.type !== "const") continue;
    const tensor = await readTensorValue(constValue(op)!, loaded, opName(op));
    if (opName(op) === "ln_epsilon")
      assert.deepEqual(Array.from(tensor.data as Uint16Array), [
        floatToHalfArray(Float32Array.of(1e-5))[0],
      ]);
    if (opName(op) === "gamma")
      assert.deepEqual(Array.from(tensor.data as Uint16Array), new Array(8).fill(0x3c00));
  }
  await loaded.close();
});
