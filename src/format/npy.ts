/**
 * NumPy `.npy` files (format versions 1–3, little-endian, C order): reading them into tensors
 * and writing tensors as version 1.0 files, as `numpy.save` does.
 */
import {
  ELEMENT_TYPES,
  elementCount,
  type ElementType,
  type Tensor,
  type TypedArray,
} from "../kernels/dtype.js";
import { FormatError, UnsupportedError } from "../errors.js";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ALIGNMENT = 64;

const DESCR_TO_TYPE: Record<string, ElementType> = {
  f8: "fp64",
  f4: "fp32",
  f2: "fp16",
  i8: "int64",
  i4: "int32",
  i2: "int16",
  i1: "int8",
  u8: "uint64",
  u4: "uint32",
  u2: "uint16",
  u1: "uint8",
  b1: "bool",
};
const TYPE_TO_DESCR = new Map(Object.entries(DESCR_TO_TYPE).map(([d, t]) => [t, d]));

function headerField(header: string, key: string, file: string): string {
  const match = new RegExp(`'${key}'\\s*:\\s*('[^']*'|True|False|\\([^)]*\\))`).exec(header);
  if (!match) throw new FormatError(file, `npy header has no '${key}'`);
  return match[1];
}

/** Parses a `.npy` file's bytes; `file` names it in errors. */
export function readNpy(bytes: Uint8Array, file = "npy data"): Tensor {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new FormatError(file, "not a .npy file (bad magic)");
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(headerStart, headerStart + headerLength),
  );
  const descr = headerField(header, "descr", file).slice(1, -1);
  if (headerField(header, "fortran_order", file) !== "False") {
    throw new UnsupportedError(`${file}: Fortran-ordered arrays are not supported`);
  }
  const shape = headerField(header, "shape", file)
    .slice(1, -1)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new FormatError(file, `npy shape (${shape.join(", ")}) is not a list of sizes`);
  }
  if (headerStart + headerLength > bytes.length) {
    throw new FormatError(
      file,
      `npy header of ${headerLength} bytes runs past the end of the file`,
    );
  }
  if (descr.startsWith(">") && descr.slice(1) !== "i1" && descr.slice(1) !== "u1") {
    throw new UnsupportedError(`${file}: big-endian arrays (${descr}) are not supported`);
  }
  const dtype = DESCR_TO_TYPE[descr.slice(1)];
  if (!dtype) throw new UnsupportedError(`${file}: npy element type ${descr} is not supported`);
  const count = elementCount(shape);
  const ArrayType = ELEMENT_TYPES[dtype].array!;
  const start = headerStart + headerLength;
  const needed = count * ArrayType.BYTES_PER_ELEMENT;
  if (!Number.isSafeInteger(needed) || bytes.length - start < needed) {
    throw new FormatError(
      file,
      `npy data holds ${bytes.length - start} bytes, shape needs ${needed}`,
    );
  }
  // Copy (a Buffer's own slice() would be a view) so the array is aligned and independent.
  const copy = Uint8Array.prototype.slice.call(bytes, start, start + needed);
  const data = new ArrayType(copy.buffer) as TypedArray;
  return { dtype, shape, data };
}

/** Encodes a tensor as a version 1.0 `.npy` file. */
export function writeNpy(tensor: Tensor): Uint8Array {
  const descr = TYPE_TO_DESCR.get(tensor.dtype);
  if (!descr || tensor.dtype === "string") {
    throw new UnsupportedError(`cannot write ${tensor.dtype} tensors as .npy`);
  }
  const prefix = descr === "b1" || descr.endsWith("1") ? "|" : "<";
  const shape =
    tensor.shape.length === 1 ? `(${tensor.shape[0]},)` : `(${tensor.shape.join(", ")})`;
  let header = `{'descr': '${prefix}${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const unpadded = 10 + header.length + 1;
  header += " ".repeat((ALIGNMENT - (unpadded % ALIGNMENT)) % ALIGNMENT) + "\n";
  const data = tensor.data as TypedArray;
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(10 + header.length + body.length);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body, 10 + header.length);
  return out;
}
