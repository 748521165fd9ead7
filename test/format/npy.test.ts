import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FormatError } from "../../src/errors.js";
import { readNpy, writeNpy } from "../../src/format/npy.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { FIXTURES } from "../support/paths.js";

test("reads a numpy-written float32 file", () => {
  const tensor = readNpy(readFileSync(join(FIXTURES, "runtime/tiny_lstm.in.x.npy")));
  assert.equal(tensor.dtype, "fp32");
  assert.deepEqual(tensor.shape, [1, 30, 40]);
  assert.equal(tensor.data.length, 1200);
  assert.ok(Array.from(tensor.data as Float32Array).every(Number.isFinite));
});

test("writes what it reads, for every supported dtype, with numpy's 64-byte alignment", () => {
  const tensors: Tensor[] = [
    { dtype: "fp32", shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, 1e-8, -1e8) },
    { dtype: "fp16", shape: [2], data: Uint16Array.of(0x3c00, 0xc000) },
    { dtype: "int32", shape: [3], data: Int32Array.of(-7, 0, 2 ** 30) },
    { dtype: "int64", shape: [1], data: BigInt64Array.of(-(2n ** 40n)) },
    { dtype: "uint8", shape: [], data: Uint8Array.of(200) },
    { dtype: "bool", shape: [2, 1], data: Uint8Array.of(1, 0) },
  ];
  for (const tensor of tensors) {
    const bytes = writeNpy(tensor);
    assert.equal((bytes.length - (tensor.data as Uint8Array).byteLength) % 64, 0);
    const back = readNpy(bytes);
    assert.equal(back.dtype, tensor.dtype);
    assert.deepEqual(back.shape, tensor.shape);
    assert.deepEqual(Array.from(back.data as Uint8Array), Array.from(tensor.data as Uint8Array));
  }
  const header = new TextDecoder().decode(writeNpy(tensors[0]).subarray(10, 70));
  assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \}/);
});

test("rejects files that are not .npy or are truncated", () => {
  assert.throws(() => readNpy(new Uint8Array(20), "x.npy"), FormatError);
  const bytes = writeNpy({ dtype: "fp32", shape: [4], data: new Float32Array(4) });
  assert.throws(() => readNpy(bytes.subarray(0, bytes.length - 1), "cut.npy"), /cut\.npy.*bytes/);
});
