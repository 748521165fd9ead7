import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { FormatError } from "../../src/errors.js";
import { BlobFileReader } from "../../src/format/blob/reader.js";
import { BlobFileWriter } from "../../src/format/blob/writer.js";
import { MemoryWriter, memoryReader } from "../../src/format/io-memory.js";
import { ELEMENT_TYPES, type ElementType, type TypedArray } from "../../src/kernels/dtype.js";
import { FIXTURES } from "../support/paths.js";

const BLOB_TYPES: ElementType[] = [
  "fp16",
  "fp32",
  "bf16",
  "fp8e4m3fn",
  "fp8e5m2",
  "int8",
  "uint8",
  "int16",
  "uint16",
  "int32",
  "uint32",
  "int4",
  "uint1",
  "uint2",
  "uint3",
  "uint4",
  "uint6",
];

function sample(dtype: ElementType, length: number): TypedArray {
  const traits = ELEMENT_TYPES[dtype];
  const data = new traits.array!(length) as TypedArray;
  for (let i = 0; i < length; i++) {
    if (traits.kind === "float")
      (data as Uint16Array)[i] = (i * 2654435761) % 2 ** Math.min(traits.bits, 31);
    else
      (data as Int32Array)[i] =
        traits.min + ((i * 7919) % Math.min(traits.max - traits.min + 1, 2 ** 31));
  }
  return data;
}

async function writeBlobs(blobs: { dtype: ElementType; data: TypedArray }[]) {
  const sink = new MemoryWriter();
  const writer = await BlobFileWriter.create(sink);
  const offsets: number[] = [];
  for (const b of blobs) {
    offsets.push(
      await writer.appendTensor({ dtype: b.dtype, shape: [b.data.length], data: b.data }),
    );
  }
  await writer.finish();
  return { bytes: sink.bytes().slice(), offsets };
}

test("every blob dtype round-trips, including odd lengths of sub-byte types", async () => {
  const blobs = BLOB_TYPES.flatMap((dtype) =>
    [1, 7, 33, 100].map((n) => ({ dtype, data: sample(dtype, n) })),
  );
  const { bytes, offsets } = await writeBlobs(blobs);
  const reader = await BlobFileReader.open(memoryReader(bytes), "mem");
  assert.equal(reader.blobCount, blobs.length);
  for (let i = 0; i < blobs.length; i++) {
    assert.equal(offsets[i] % 64, 0, "metadata is 64-byte aligned");
    const data = await reader.readTensorData(offsets[i], blobs[i].dtype, blobs[i].data.length);
    assert.deepEqual(
      Array.from(data as Uint8Array),
      Array.from(blobs[i].data as Uint8Array),
      `${blobs[i].dtype}[${blobs[i].data.length}]`,
    );
  }
  const listed = await reader.list();
  assert.deepEqual(
    listed.map((m) => m.offset),
    offsets,
  );
  assert.deepEqual(
    listed.map((m) => m.elementCount),
    blobs.map((b) => b.data.length),
  );
  const uint3 = listed[BLOB_TYPES.indexOf("uint3") * 4 + 1];
  assert.equal(uint3.paddingBits, 3 * 8 - 7 * 3, "padding bits of 7 uint3 values");
});

test("copying every blob of a coremltools weight file reproduces it byte for byte", async () => {
  const path = join(
    FIXTURES,
    "golden/cases/lq_int4_sym_perblock32__zoo_fp16_ios18.mlpackage/Data/com.apple.CoreML/weights/weight.bin",
  );
  const original = new Uint8Array(await readFile(path));
  const reader = await BlobFileReader.open(memoryReader(original), path);
  const sink = new MemoryWriter();
  const writer = await BlobFileWriter.create(sink);
  for (const blob of await reader.list()) {
    const { metadata, bytes } = await reader.readData(blob.offset);
    assert.equal(await writer.append(metadata.dtype, bytes, metadata.elementCount), blob.offset);
  }
  await writer.finish();
  assert.deepEqual(sink.bytes(), original);
});

async function expectFormatError(
  bytes: Uint8Array,
  read: (r: BlobFileReader) => Promise<unknown>,
  pattern: RegExp,
) {
  await assert.rejects(
    async () => read(await BlobFileReader.open(memoryReader(bytes), "weight.bin")),
    (error: unknown) => {
      assert.ok(error instanceof FormatError, String(error));
      assert.match(error.message, /^weight\.bin/);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

test("malformed weight files are reported with the file and the problem", async () => {
  const { bytes, offsets } = await writeBlobs([{ dtype: "fp16", data: sample("fp16", 40) }]);
  const at = offsets[0];
  await expectFormatError(
    bytes.slice(0, 20),
    async () => undefined,
    /shorter than its 64-byte header/,
  );
  const badVersion = bytes.slice();
  badVersion[4] = 7;
  await expectFormatError(badVersion, async () => undefined, /storage version 7/);
  const badSentinel = bytes.slice();
  badSentinel[at] = 0;
  await expectFormatError(badSentinel, (r) => r.readMetadata(at), /sentinel/);
  const badDtype = bytes.slice();
  badDtype[at + 4] = 99;
  await expectFormatError(badDtype, (r) => r.readMetadata(at), /unknown blob data type code 99/);
  await expectFormatError(bytes.slice(0, bytes.length - 10), (r) => r.readData(at), /past the end/);
  await expectFormatError(bytes, (r) => r.readMetadata(4096), /outside/);
  await expectFormatError(
    bytes,
    (r) => r.readTensorData(at, "fp32", 40),
    /holds fp16 data but the program expects fp32/,
  );
  await expectFormatError(bytes, (r) => r.readTensorData(at, "fp16", 41), /holds 80 bytes/);
  const lfs = new TextEncoder().encode(
    "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n".padEnd(80),
  );
  await expectFormatError(lfs, async () => undefined, /Git LFS pointer/);
});

test("sub-byte tensors that come packed are written as they are", async () => {
  const values = Uint8Array.from({ length: 21 }, (_, i) => ((i * 7) % 3 === 0 ? 1 : 0));
  const write = async (tensor: Parameters<BlobFileWriter["appendTensor"]>[0]) => {
    const sink = new MemoryWriter();
    const writer = await BlobFileWriter.create(sink);
    await writer.appendTensor(tensor);
    await writer.finish();
    return sink.bytes().slice();
  };
  const packed = Uint8Array.of(0, 0, 0);
  values.forEach((v, i) => (packed[i >> 3] |= v << (i & 7)));
  assert.deepEqual(
    await write({ dtype: "uint1", shape: [21], data: packed, packed: true }),
    await write({ dtype: "uint1", shape: [21], data: values }),
  );
});
