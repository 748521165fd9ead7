import type { ElementType } from "../../kernels/dtype.js";

/** Element type codes of MIL blob storage metadata. */
const BLOB_DTYPE_CODES = {
  fp16: 1,
  fp32: 2,
  uint8: 3,
  int8: 4,
  bf16: 5,
  int16: 6,
  uint16: 7,
  int4: 8,
  uint1: 9,
  uint2: 10,
  uint4: 11,
  uint3: 12,
  uint6: 13,
  int32: 14,
  uint32: 15,
  fp8e4m3fn: 16,
  fp8e5m2: 17,
} as const satisfies Partial<Record<ElementType, number>>;

export type BlobElementType = keyof typeof BLOB_DTYPE_CODES;

const BY_CODE = new Map<number, BlobElementType>(
  Object.entries(BLOB_DTYPE_CODES).map(([name, code]) => [code, name as BlobElementType]),
);

export function blobDtypeCode(dtype: ElementType): number | undefined {
  return (BLOB_DTYPE_CODES as Partial<Record<ElementType, number>>)[dtype];
}

export function blobDtypeOf(code: number): BlobElementType | undefined {
  return BY_CODE.get(code);
}
