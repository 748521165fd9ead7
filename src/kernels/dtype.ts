/**
 * Element types of tensors, as numeric kernels see them: the width in bits, whether the
 * values are signed integers or floats, and the typed array that holds one value per element
 * once unpacked. Half-precision and 8-bit floats are held as their raw bit patterns.
 */
export type ElementType =
  | "fp64"
  | "fp32"
  | "fp16"
  | "bf16"
  | "fp8e4m3fn"
  | "fp8e5m2"
  | "int64"
  | "int32"
  | "int16"
  | "int8"
  | "int4"
  | "uint64"
  | "uint32"
  | "uint16"
  | "uint8"
  | "uint6"
  | "uint4"
  | "uint3"
  | "uint2"
  | "uint1"
  | "bool"
  | "string";

export type TypedArray =
  | Float64Array
  | Float32Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint32Array
  | Uint16Array
  | Uint8Array
  | BigInt64Array
  | BigUint64Array;

export type TypedArrayConstructor =
  | Float64ArrayConstructor
  | Float32ArrayConstructor
  | Int32ArrayConstructor
  | Int16ArrayConstructor
  | Int8ArrayConstructor
  | Uint32ArrayConstructor
  | Uint16ArrayConstructor
  | Uint8ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

export interface ElementTypeTraits {
  readonly bits: number;
  readonly kind: "float" | "signed" | "unsigned" | "bool" | "string";
  /** Smallest and largest representable integer (integer kinds only). */
  readonly min: number;
  readonly max: number;
  /** Array holding one unpacked element per slot; floats narrower than 32 bits hold raw bits. */
  readonly array: TypedArrayConstructor | null;
}

function int(bits: number, array: TypedArrayConstructor): ElementTypeTraits {
  return { bits, kind: "signed", min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1, array };
}
function uint(bits: number, array: TypedArrayConstructor): ElementTypeTraits {
  return { bits, kind: "unsigned", min: 0, max: 2 ** bits - 1, array };
}
function float(bits: number, array: TypedArrayConstructor): ElementTypeTraits {
  return { bits, kind: "float", min: -Infinity, max: Infinity, array };
}

export const ELEMENT_TYPES: Readonly<Record<ElementType, ElementTypeTraits>> = {
  fp64: float(64, Float64Array),
  fp32: float(32, Float32Array),
  fp16: float(16, Uint16Array),
  bf16: float(16, Uint16Array),
  fp8e4m3fn: float(8, Uint8Array),
  fp8e5m2: float(8, Uint8Array),
  int64: int(64, BigInt64Array),
  int32: int(32, Int32Array),
  int16: int(16, Int16Array),
  int8: int(8, Int8Array),
  int4: int(4, Int8Array),
  uint64: uint(64, BigUint64Array),
  uint32: uint(32, Uint32Array),
  uint16: uint(16, Uint16Array),
  uint8: uint(8, Uint8Array),
  uint6: uint(6, Uint8Array),
  uint4: uint(4, Uint8Array),
  uint3: uint(3, Uint8Array),
  uint2: uint(2, Uint8Array),
  uint1: uint(1, Uint8Array),
  bool: { bits: 8, kind: "bool", min: 0, max: 1, array: Uint8Array },
  string: { bits: 0, kind: "string", min: 0, max: 0, array: null },
};

/** True for integer types narrower than a byte, which are stored bit-packed. */
export function isSubByte(type: ElementType): boolean {
  const { bits, kind } = ELEMENT_TYPES[type];
  return bits < 8 && (kind === "signed" || kind === "unsigned");
}

/** Bytes needed to store `count` elements of `type` (sub-byte types packed, rounded up). */
export function byteLength(type: ElementType, count: number): number {
  return Math.ceil((ELEMENT_TYPES[type].bits * count) / 8);
}

/** A dense tensor: element type, shape, and one value per element in row-major order. */
export interface Tensor {
  readonly dtype: ElementType;
  readonly shape: readonly number[];
  readonly data: TypedArray | string[];
  /**
   * Sub-byte types only: `data` holds the values as stored, packed least significant bits
   * first (a kernel can produce them so, sparing a byte per element and a packing pass).
   */
  readonly packed?: boolean;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
