import assert from "node:assert/strict";
import { open, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { linearQuantizerConfig } from "../../src/config/index.js";
import type { AppendWriter } from "../../src/format/blob/io.js";
import { BlobFileWriter } from "../../src/format/blob/writer.js";
import { openFileReader } from "../../src/format/io-node.js";
import { DEFAULT_WEIGHT_FILE, MLModel } from "../../src/format/model.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { ProgramBuilder } from "../../src/program/builder.js";
import { readTensorValue } from "../../src/program/values.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { randomHalf } from "../support/tensors.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-large-"));
after(() => rm(work, { recursive: true, force: true }));

/** 4 GiB of zeros, left as a hole in a sparse file: only the blobs after it hold data. */
const HOLE = 2 ** 32;

/**
 * A file sink whose `skip` leaves a hole: the weight file holds a 4 GiB uint8 blob of zeros
 * (written as metadata only) before the weights the program uses, so their offsets pass 2^32.
 */
async function sparseSink(path: string): Promise<AppendWriter & { skip(n: number): void }> {
  const handle = await open(path, "w");
  let position = 0;
  return {
    get position() {
      return position;
    },
    async append(bytes) {
      await handle.write(bytes, 0, bytes.length, position);
      position += bytes.length;
    },
    async writeAt(at, bytes) {
      await handle.write(bytes, 0, bytes.length, at);
    },
    skip(n) {
      position += n;
    },
    async close() {
      await handle.truncate(position);
      await handle.close();
    },
  };
}

test("weights past 4 GiB in the weight file are read, run, compressed and decompressed", async () => {
  const path = join(work, "weight.bin");
  const sink = await sparseSink(path);
  const writer = await BlobFileWriter.create(sink);
  // The hole's blob: uint8 metadata (sentinel, dtype 3, size, data offset), data never written.
  const metadata = new DataView(new ArrayBuffer(64));
  metadata.setUint32(0, 0xdeadbeef, true);
  metadata.setUint32(4, 3, true);
  metadata.setBigUint64(8, BigInt(HOLE), true);
  metadata.setBigUint64(16, 128n, true);
  await sink.append(new Uint8Array(metadata.buffer));
  sink.skip(HOLE);

  const weight = randomHalf([64, 64], 5);
  const b = new ProgramBuilder("iOS18", writer);
  const x = b.input("x", "fp16", [1, 64]);
  b.output(b.linear(x, await b.constant("w", weight), undefined, "out"));
  await writer.finish();
  // The header counts the hole's blob too.
  const file = await open(path, "r+");
  await file.write(new Uint8Array(new Uint32Array([2, 2]).buffer), 0, 8, 0);
  await file.close();

  const model = new MLModel(
    b.build(),
    new Map([[DEFAULT_WEIGHT_FILE, { path, open: () => openFileReader(path) }]]),
  );
  const reader = await model.blobFile(DEFAULT_WEIGHT_FILE);
  const blobs = await reader.list();
  assert.equal(blobs.length, 2);
  assert.ok(blobs[1].offset > HOLE, `second blob at ${blobs[1].offset}`);
  const spec = model.spec.Type.case === "mlProgram" ? model.spec.Type.value : undefined;
  const constOp = Object.values(spec!.functions.main.blockSpecializations)[0].operations.find(
    (op) => op.type === "const" && op.outputs[0].name === "w",
  )!;
  const read = await readTensorValue(constOp.attributes.val, model, "w");
  assert.deepEqual(read.data, weight.data);

  const input = { x: randomHalf([1, 64], 6) };
  const dense = (await Interpreter.load(model)).predict(input).out.data;
  const quantized = await linearQuantizeWeights(model, {
    globalConfig: linearQuantizerConfig({ dtype: "int8" }),
  });
  assert.equal(quantized.weights.length, 1);
  const back = await decompressWeights(quantized.model);
  const restored = (await Interpreter.load(back)).predict(input).out.data as Float32Array;
  const expected = dense as Float32Array;
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(restored[i] - expected[i]) < 0.05 * (1 + Math.abs(expected[i])));
  }
  for (const m of [back, quantized.model, model]) await m.close();
});
