import {
  ELEMENT_TYPES,
  elementCount,
  isSubByte,
  type ElementType,
  type Tensor,
  type TypedArray,
} from "../../kernels/dtype.js";
import { packSubByte } from "../../kernels/bitpack.js";
import { UnsupportedError } from "../../errors.js";
import { blobDtypeCode } from "./dtypes.js";
import type { AppendWriter } from "./io.js";
import {
  HEADER_BYTES,
  METADATA_BYTES,
  METADATA_SENTINEL,
  STORAGE_VERSION,
  alignUp,
} from "./layout.js";

/** Writes a weight file blob by blob, as a stream; the header's count is filled in at the end. */
export class BlobFileWriter {
  private count = 0;

  private constructor(private readonly sink: AppendWriter) {}

  static async create(sink: AppendWriter): Promise<BlobFileWriter> {
    await sink.append(header(0));
    return new BlobFileWriter(sink);
  }

  /** Appends stored bytes holding `elementCount` elements; returns the blob's offset. */
  async append(dtype: ElementType, bytes: Uint8Array, elementCount: number): Promise<number> {
    const code = blobDtypeCode(dtype);
    if (code === undefined) throw new UnsupportedError(`blob storage cannot hold ${dtype} data`);
    const offset = alignUp(this.sink.position);
    if (offset > this.sink.position)
      await this.sink.append(new Uint8Array(offset - this.sink.position));
    const metadata = new Uint8Array(METADATA_BYTES);
    const view = new DataView(metadata.buffer);
    view.setUint32(0, METADATA_SENTINEL, true);
    view.setUint32(4, code, true);
    view.setBigUint64(8, BigInt(bytes.length), true);
    view.setBigUint64(16, BigInt(offset + METADATA_BYTES), true);
    view.setBigUint64(
      24,
      BigInt(bytes.length * 8 - elementCount * ELEMENT_TYPES[dtype].bits),
      true,
    );
    await this.sink.append(metadata);
    await this.sink.append(bytes);
    this.count++;
    return offset;
  }

  /** Appends a tensor, packing sub-byte types unless they come packed. */
  appendTensor(tensor: Tensor): Promise<number> {
    const { bytes, elementCount } = tensorBlobBytes(tensor);
    return this.append(tensor.dtype, bytes, elementCount);
  }

  async finish(): Promise<void> {
    try {
      await this.sink.writeAt(0, header(this.count));
    } finally {
      await this.sink.close();
    }
  }
}

/** The bytes a blob stores for `tensor` (sub-byte types packed) and its element count. */
export function tensorBlobBytes(tensor: Tensor): { bytes: Uint8Array; elementCount: number } {
  const data = tensor.data as TypedArray;
  if (tensor.packed) return { bytes: data as Uint8Array, elementCount: elementCount(tensor.shape) };
  return { bytes: encodeBlobBytes(tensor.dtype, data), elementCount: data.length };
}

function encodeBlobBytes(dtype: ElementType, data: TypedArray): Uint8Array {
  if (isSubByte(dtype))
    return packSubByte(data as Uint8Array | Int8Array, ELEMENT_TYPES[dtype].bits);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function header(count: number): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, count, true);
  view.setUint32(4, STORAGE_VERSION, true);
  return bytes;
}
