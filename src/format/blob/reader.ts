import { FormatError } from "../../errors.js";
import {
  ELEMENT_TYPES,
  byteLength,
  isSubByte,
  type ElementType,
  type TypedArray,
} from "../../kernels/dtype.js";
import { unpackSubByte } from "../../kernels/bitpack.js";
import { blobDtypeOf, type BlobElementType } from "./dtypes.js";
import type { RandomAccessReader } from "./io.js";
import {
  HEADER_BYTES,
  METADATA_BYTES,
  METADATA_SENTINEL,
  STORAGE_VERSION,
  alignUp,
} from "./layout.js";

export interface BlobMetadata {
  /** Offset of the metadata record: what MIL blob values refer to. */
  readonly offset: number;
  readonly dtype: BlobElementType;
  readonly sizeInBytes: number;
  readonly dataOffset: number;
  readonly paddingBits: number;
  /** Number of elements the data holds (from its size and padding). */
  readonly elementCount: number;
}

/** Reads blobs by offset, without loading the whole file. */
export class BlobFileReader {
  private constructor(
    private readonly source: RandomAccessReader,
    readonly label: string,
    readonly blobCount: number,
  ) {}

  get size(): number {
    return this.source.size;
  }

  static async open(source: RandomAccessReader, label: string): Promise<BlobFileReader> {
    if (source.size < HEADER_BYTES) {
      throw new FormatError(
        label,
        `weight file is ${source.size} bytes, shorter than its 64-byte header`,
      );
    }
    const header = await source.read(0, HEADER_BYTES);
    if (startsWithLfsPointer(header)) {
      throw new FormatError(
        label,
        "weight file is a Git LFS pointer, not the weights (run `git lfs pull` to fetch them)",
      );
    }
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    const count = view.getUint32(0, true);
    const version = view.getUint32(4, true);
    if (version !== STORAGE_VERSION) {
      throw new FormatError(
        label,
        `weight file has storage version ${version}, expected ${STORAGE_VERSION}`,
      );
    }
    return new BlobFileReader(source, label, count);
  }

  async readMetadata(offset: number): Promise<BlobMetadata> {
    const at = `${this.label} (blob at offset ${offset})`;
    if (
      !Number.isSafeInteger(offset) ||
      offset < HEADER_BYTES ||
      offset + METADATA_BYTES > this.size
    ) {
      throw new FormatError(at, `offset is outside the ${this.size}-byte weight file`);
    }
    const bytes = await this.source.read(offset, METADATA_BYTES);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const sentinel = view.getUint32(0, true);
    if (sentinel !== METADATA_SENTINEL) {
      throw new FormatError(
        at,
        `bad metadata sentinel 0x${sentinel.toString(16)} (expected 0xdeadbeef)`,
      );
    }
    const code = view.getUint32(4, true);
    const dtype = blobDtypeOf(code);
    if (!dtype) throw new FormatError(at, `unknown blob data type code ${code}`);
    const sizeInBytes = Number(view.getBigUint64(8, true));
    const dataOffset = Number(view.getBigUint64(16, true));
    const paddingBits = Number(view.getBigUint64(24, true));
    if (dataOffset < offset + METADATA_BYTES || dataOffset + sizeInBytes > this.size) {
      throw new FormatError(
        at,
        `data of ${sizeInBytes} bytes at offset ${dataOffset} runs past the end of the ${this.size}-byte file`,
      );
    }
    const bits = ELEMENT_TYPES[dtype].bits;
    // Files written before iOS18 may leave the padding field uninitialised; only sub-byte
    // types need it.
    const padding = bits % 8 === 0 ? 0 : paddingBits;
    const totalBits = sizeInBytes * 8 - padding;
    if (padding >= 8 || totalBits < 0 || totalBits % bits !== 0) {
      throw new FormatError(
        at,
        `size ${sizeInBytes} bytes with ${paddingBits} padding bits is not a whole number of ${dtype} elements`,
      );
    }
    return {
      offset,
      dtype,
      sizeInBytes,
      dataOffset,
      paddingBits: padding,
      elementCount: totalBits / bits,
    };
  }

  async readData(offset: number): Promise<{ metadata: BlobMetadata; bytes: Uint8Array }> {
    const metadata = await this.readMetadata(offset);
    return { metadata, bytes: await this.source.read(metadata.dataOffset, metadata.sizeInBytes) };
  }

  /** Reads a blob as `count` elements of `dtype`, checking both against its metadata. */
  async readTensorData(offset: number, dtype: ElementType, count: number): Promise<TypedArray> {
    return decodeBlobBytes(dtype, await this.readStoredBytes(offset, dtype, count), count);
  }

  /** The stored bytes of a blob of `count` elements of `dtype` (sub-byte types still packed). */
  async readStoredBytes(offset: number, dtype: ElementType, count: number): Promise<Uint8Array> {
    const { metadata, bytes } = await this.readData(offset);
    const at = `${this.label} (blob at offset ${offset})`;
    if (metadata.dtype !== dtype) {
      throw new FormatError(
        at,
        `blob holds ${metadata.dtype} data but the program expects ${dtype}`,
      );
    }
    if (metadata.sizeInBytes !== byteLength(dtype, count)) {
      throw new FormatError(
        at,
        `blob holds ${metadata.sizeInBytes} bytes but ${count} ${dtype} elements need ${byteLength(dtype, count)}`,
      );
    }
    return bytes;
  }

  /** Every blob in file order. */
  async list(): Promise<BlobMetadata[]> {
    const blobs: BlobMetadata[] = [];
    let offset = HEADER_BYTES;
    for (let i = 0; i < this.blobCount; i++) {
      const metadata = await this.readMetadata(offset);
      blobs.push(metadata);
      offset = alignUp(metadata.dataOffset + metadata.sizeInBytes);
    }
    return blobs;
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

/** Turns stored bytes into one value per element (sub-byte types unpacked). */
function decodeBlobBytes(dtype: ElementType, bytes: Uint8Array, count: number): TypedArray {
  const traits = ELEMENT_TYPES[dtype];
  if (isSubByte(dtype)) return unpackSubByte(bytes, traits.bits, count, traits.kind === "signed");
  const ArrayType = traits.array!;
  const width = traits.bits / 8;
  if (bytes.byteOffset % width === 0) {
    return new ArrayType(bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
  }
  return new ArrayType(new Uint8Array(bytes.subarray(0, count * width)).buffer);
}

function startsWithLfsPointer(header: Uint8Array): boolean {
  const prefix = "version https://git-lfs";
  for (let i = 0; i < prefix.length; i++) if (header[i] !== prefix.charCodeAt(i)) return false;
  return true;
}
