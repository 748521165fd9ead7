/**
 * Sub-byte integer packing as Core ML's blob storage reads it: element i occupies bits
 * [i·b, (i+1)·b) of a little-endian bit stream, so the first element sits in the lowest bits
 * of the first byte. Signed values are b-bit two's complement.
 */

export function packSubByte(values: ArrayLike<number>, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((values.length * bits) / 8));
  const mask = (1 << bits) - 1;
  if (8 % bits === 0) {
    for (let byte = 0, i = 0; byte < out.length; byte++) {
      let packed = 0;
      for (let shift = 0; shift < 8 && i < values.length; shift += bits, i++) {
        packed |= (values[i] & mask) << shift;
      }
      out[byte] = packed;
    }
    return out;
  }
  let bitPos = 0;
  for (let i = 0; i < values.length; i++, bitPos += bits) {
    const v = (values[i] & mask) << (bitPos & 7);
    const byte = bitPos >> 3;
    out[byte] |= v & 0xff;
    if (v > 0xff) out[byte + 1] |= v >> 8;
  }
  return out;
}

export function unpackSubByte(
  bytes: Uint8Array,
  bits: number,
  count: number,
  signed: boolean,
): Int8Array | Uint8Array {
  const out = signed ? new Int8Array(count) : new Uint8Array(count);
  const mask = (1 << bits) - 1;
  const signBit = 1 << (bits - 1);
  const extend = signed ? (v: number) => (v & signBit ? v - (1 << bits) : v) : (v: number) => v;
  if (8 % bits === 0) {
    const perByte = 8 / bits;
    for (let i = 0; i < count; i++) {
      out[i] = extend((bytes[(i / perByte) | 0] >> ((i % perByte) * bits)) & mask);
    }
    return out;
  }
  let bitPos = 0;
  for (let i = 0; i < count; i++, bitPos += bits) {
    const byte = bitPos >> 3;
    const word = bytes[byte] | ((bytes[byte + 1] ?? 0) << 8);
    out[i] = extend((word >> (bitPos & 7)) & mask);
  }
  return out;
}
