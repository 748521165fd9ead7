import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Operation } from "../../src/format/gen/MIL_pb.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { floatToHalf, halfToFloatArray } from "../../src/kernels/fp16.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { buildModel } from "../../src/program/builder.js";
import { constValue, opName } from "../../src/program/ops.js";
import { readTensorValue } from "../../src/program/values.js";
import { allOperations } from "../../src/program/walk.js";
import { GOLDEN } from "../support/paths.js";
import { UnsupportedError } from "../../src/errors.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-decompress-test-"));
after(() => rm(work, { recursive: true, force: true }));
const WEIGHTS = "Data/com.apple.CoreML/weights/weight.bin";

function operations(model: MLModel): Operation[] {
  assert.equal(model.spec.Type.case, "mlProgram");
  return [...allOperations(model.spec.Type.value)].map((site) => site.op);
}

async function constTensor(model: MLModel, name: string): Promise<Tensor> {
  const op = operations(model).find((o) => o.type === "const" && o.outputs[0].name === name);
  assert.ok(op, `const ${name} exists`);
  return readTensorValue(constValue(op)!, model, name);
}

const half = (values: number[]) => Uint16Array.from(values, floatToHalf);

describe("decompressWeights", () => {
  it("leaves a model without constexpr ops as it is, weights byte for byte", async () => {
    const base = join(GOLDEN, "bases/zoo_fp16_ios18.mlpackage");
    const model = await loadModel(base);
    const same = await decompressWeights(model);
    const out = join(work, "same.mlpackage");
    await same.save(out);
    assert.deepEqual(operations(same), operations(model));
    await Promise.all([model.close(), same.close()]);
    assert.deepEqual(await readFile(join(out, WEIGHTS)), await readFile(join(base, WEIGHTS)));
  });

  it("resolves parameters bound by name to consts and to other constexpr ops", async () => {
    const rows = 16;
    const data = Int8Array.from({ length: rows * 4 }, (_, i) => (i % 15) - 7);
    const scales = Array.from({ length: rows }, (_, i) => 0.25 * (i + 1));
    const model = await buildModel("iOS18", async (b) => {
      const x = b.input("x", "fp16", [1, 4]);
      const q = await b.constant("q", { dtype: "int8", shape: [rows, 4], data });
      const s = await b.constant("s", { dtype: "fp16", shape: [rows, 1], data: half(scales) });
      const w = b.op(
        "constexpr_blockwise_shift_scale",
        "w",
        { data: q.name, scale: s.name },
        "fp16",
        [rows, 4],
      );
      // A LUT whose table is itself dequantized (joint compression), indices by name too.
      const indices = await b.constant("idx", {
        dtype: "uint2",
        shape: [rows, 4],
        data: Uint8Array.from({ length: rows * 4 }, (_, i) => i % 4),
      });
      const table = await b.constant("table", {
        dtype: "int8",
        shape: [1, 1, 4, 1],
        data: Int8Array.from([-2, -1, 1, 2]),
      });
      const tableScale = await b.constant("table_scale", {
        dtype: "fp16",
        shape: [1, 1, 1, 1],
        data: half([0.5]),
      });
      const lut = b.op(
        "constexpr_blockwise_shift_scale",
        "lut",
        { data: table.name, scale: tableScale.name },
        "fp16",
        [1, 1, 4, 1],
      );
      const v = b.op(
        "constexpr_lut_to_dense",
        "v",
        { indices: indices.name, lut: lut.name },
        "fp16",
        [rows, 4],
      );
      // `s` also feeds a dense op: it must stay.
      const y = b.linear(x, w);
      b.output(b.binary("add", b.linear(x, v), y));
      b.output(b.binary("mul", s, s));
    });
    const dense = await decompressWeights(model);
    try {
      const ops = operations(dense);
      assert.deepEqual(
        ops
          .filter((o) => o.type === "const")
          .map(opName)
          .sort(),
        ["s", "v", "w"],
      );
      const w = await constTensor(dense, "w");
      assert.equal(w.dtype, "fp16");
      const expectedW = Array.from(data, (d, i) => floatToHalf(d * scales[Math.floor(i / 4)]));
      assert.deepEqual(Array.from(w.data as Uint16Array), expectedW);
      const v = await constTensor(dense, "v");
      assert.deepEqual(
        Array.from(halfToFloatArray(v.data as Uint16Array)),
        Array.from({ length: rows * 4 }, (_, i) => [-1, -0.5, 0.5, 1][i % 4]),
      );
      // The rewritten model saves and reads back.
      const out = join(work, "named.mlpackage");
      await dense.save(out);
      const reloaded = await loadModel(out);
      assert.deepEqual(
        Array.from((await constTensor(reloaded, "w")).data as Uint16Array),
        expectedW,
      );
      await reloaded.close();
    } finally {
      await Promise.all([model.close(), dense.close()]);
    }
  });

  it("refuses a constexpr op fed by a runtime value", async () => {
    const model = await buildModel("iOS18", async (b) => {
      const x = b.input("x", "int8", [4, 4]);
      const s = await b.constant("s", { dtype: "fp32", shape: [4, 1], data: new Float32Array(4) });
      b.output(
        b.op(
          "constexpr_blockwise_shift_scale",
          "w",
          { data: x.name, scale: s.name },
          "fp32",
          [4, 4],
        ),
      );
    });
    await assert.rejects(decompressWeights(model), UnsupportedError);
    await model.close();
  });
});
