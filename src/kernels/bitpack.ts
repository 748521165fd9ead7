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

/** Per byte value, the 8 / bits fields it holds, unpacked (cached per width and signedness). */
const expansions = new Map<string, Uint8Array>();

function expansionTable(bits: number, signed: boolean): Uint8Array {
  const key = `${bits}${signed ? "s" : "u"}`;
  let table = expansions.get(key);
  if (!table) {
    const perByte = 8 / bits;
    const mask = (1 << bits) - 1;
    const signBit = signed ? 1 << (bits - 1) : 0;
    table = new Uint8Array(256 * perByte);
    for (let byte = 0; byte < 256; byte++) {
      for (let k = 0; k < perByte; k++) {
        // Stored as the two's complement byte an Int8Array would hold.
        table[byte * perByte + k] = ((((byte >> (k * bits)) & mask) ^ signBit) - signBit) & 0xff;
      }
    }
    expansions.set(key, table);
  }
  return table;
}

/**
 * Unpacks the whole bytes of 1-, 2- and 4-bit fields by table, writing the 8, 4 or 2 output
 * bytes of each input byte as 32- or 16-bit words (the table holds them in memory order, so
 * this is independent of the platform's byte order). Returns how many bytes it unpacked.
 */
function unpackWholeBytes(
  bytes: Uint8Array,
  bits: number,
  count: number,
  out: Int8Array | Uint8Array,
): number {
  const wholeBytes = Math.floor((count * bits) / 8);
  const table = expansionTable(bits, out instanceof Int8Array);
  if (bits === 1) {
    const words = new Uint32Array(table.buffer);
    const target = new Uint32Array(out.buffer, out.byteOffset, wholeBytes * 2);
    for (let b = 0; b < wholeBytes; b++) {
      const byte = bytes[b] << 1;
      target[b << 1] = words[byte];
      target[(b << 1) + 1] = words[byte + 1];
    }
  } else if (bits === 2) {
    const words = new Uint32Array(table.buffer);
    const target = new Uint32Array(out.buffer, out.byteOffset, wholeBytes);
    for (let b = 0; b < wholeBytes; b++) target[b] = words[bytes[b]];
  } else {
    const halves = new Uint16Array(table.buffer);
    const target = new Uint16Array(out.buffer, out.byteOffset, wholeBytes);
    for (let b = 0; b < wholeBytes; b++) target[b] = halves[bytes[b]];
  }
  return wholeBytes;
}

export function unpackSubByte(
  bytes: Uint8Array,
  bits: number,
  count: number,
  signed: boolean,
): Int8Array | Uint8Array {
  const out = signed ? new Int8Array(count) : new Uint8Array(count);
  const mask = (1 << bits) - 1;
  // (v ^ s) - s sign-extends a b-bit field when s is its sign bit, and is v when s is 0.
  const signBit = signed ? 1 << (bits - 1) : 0;
  if (bits === 8) {
    out.set(
      signed ? new Int8Array(bytes.buffer, bytes.byteOffset, count) : bytes.subarray(0, count),
    );
    return out;
  }
  if (8 % bits === 0) {
    const wholeBytes = unpackWholeBytes(bytes, bits, count, out);
    for (let i = (wholeBytes * 8) / bits, shift = 0; i < count; i++, shift += bits) {
      out[i] = (((bytes[wholeBytes] >> shift) & mask) ^ signBit) - signBit;
    }
    return out;
  }
  let bitPos = 0;
  for (let i = 0; i < count; i++, bitPos += bits) {
    const byte = bitPos >> 3;
    const word = bytes[byte] | ((bytes[byte + 1] ?? 0) << 8);
    out[i] = (((word >> (bitPos & 7)) & mask) ^ signBit) - signBit;
  }
  return out;
}
