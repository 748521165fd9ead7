/**
 * Sub-byte integer packing as Core ML's blob storage reads it: element i occupies bits
 * [i·b, (i+1)·b) of a little-endian bit stream, so the first element sits in the lowest bits
 * of the first byte. Signed values are b-bit two's complement.
 */

export function packSubByte(values: ArrayLike<number>, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((values.length * bits) / 8));
  const mask = (1 << bits) - 1;
  if (8 % bits === 0) {
    // Whole bytes first (4-bit, the common palette, without an inner loop), then the last,
    // partly filled byte.
    const perByte = 8 / bits;
    const whole = Math.floor(values.length / perByte);
    if (bits === 4) {
      for (let byte = 0; byte < whole; byte++) {
        out[byte] = (values[2 * byte] & 15) | ((values[2 * byte + 1] & 15) << 4);
      }
    } else {
      for (let byte = 0, i = 0; byte < whole; byte++) {
        let packed = 0;
        for (let shift = 0; shift < 8; shift += bits) packed |= (values[i++] & mask) << shift;
        out[byte] = packed;
      }
    }
    let packed = 0;
    for (let i = whole * perByte, shift = 0; i < values.length; i++, shift += bits) {
      packed |= (values[i] & mask) << shift;
    }
    if (whole < out.length) out[whole] = packed;
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
