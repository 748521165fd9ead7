/** Byte layout of MIL blob storage (weight.bin): a header, then metadata + data per blob. */
export const HEADER_BYTES = 64;
export const METADATA_BYTES = 64;
export const ALIGNMENT = 64;
export const STORAGE_VERSION = 2;
export const METADATA_SENTINEL = 0xdeadbeef;

export function alignUp(position: number): number {
  return Math.ceil(position / ALIGNMENT) * ALIGNMENT;
}
