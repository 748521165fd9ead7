/**
 * A fast 64-bit content hash, to find weights whose bytes are identical (multifunction models,
 * merge). Two independent 32-bit lanes (multiply-rotate mixing over 32-bit words, as MurmurHash3
 * mixes) give 64 bits: for the few thousand tensors of a model, an accidental collision has odds
 * around 2^-40 at worst, and callers key on dtype and size too.
 */
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const C3 = 0x85ebca6b;
const C4 = 0xc2b2ae35;

function mix(h: number, k: number, m1: number, m2: number): number {
  k = Math.imul(k, m1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, m2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finalize(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The hash of `bytes` as 16 hex digits. */
export function contentHash(bytes: Uint8Array): string {
  const words = bytes.byteLength >>> 2;
  // Aligned data is read as words in place; unaligned data is copied once.
  const view =
    bytes.byteOffset % 4 === 0
      ? new Int32Array(bytes.buffer, bytes.byteOffset, words)
      : new Int32Array(bytes.slice(0, words * 4).buffer);
  let a = 0x9747b28c;
  let b = 0x3c6ef372;
  for (let i = 0; i < words; i++) {
    const k = view[i];
    a = mix(a, k, C1, C2);
    b = mix(b, k, C3, C4);
  }
  let tail = 0;
  for (let i = words * 4; i < bytes.byteLength; i++) tail = (tail << 8) | bytes[i];
  a = mix(a, tail, C1, C2);
  b = mix(b, tail, C3, C4);
  const hex = (h: number) => finalize(h, bytes.byteLength).toString(16).padStart(8, "0");
  return hex(a) + hex(b);
}
