import assert from "node:assert/strict";
import { test } from "node:test";
import { packSubByte, unpackSubByte } from "../../src/kernels/bitpack.js";

test("first element sits in the lowest bits of the first byte", () => {
  assert.deepEqual(Array.from(packSubByte([1, 2], 4)), [0x21]);
  assert.deepEqual(Array.from(packSubByte([1, 0, 1, 1, 0, 0, 0, 0, 1], 1)), [0x0d, 0x01]);
  assert.deepEqual(Array.from(packSubByte([3, 0, 1, 2], 2)), [0b10010011]);
  // 3-bit values 5, 6, 7 → bits 101 | 110 << 3 | 111 << 6 = 0b1_1110_101 over two bytes.
  assert.deepEqual(Array.from(packSubByte([5, 6, 7], 3)), [0xf5, 0x01]);
  // 6-bit values straddle bytes: 0x3f, 0x01 → 0b01_111111, 0b0000
  assert.deepEqual(Array.from(packSubByte([0x3f, 0x01], 6)), [0x7f, 0x00]);
});

test("signed values are two's complement of the given width", () => {
  assert.deepEqual(Array.from(packSubByte([-1, -8, 7], 4)), [0x8f, 0x07]);
  assert.deepEqual(Array.from(unpackSubByte(Uint8Array.of(0x8f, 0x07), 4, 3, true)), [-1, -8, 7]);
});

test("pack and unpack round-trip every width and odd lengths", () => {
  for (const bits of [1, 2, 3, 4, 6, 8]) {
    for (const signed of [false, true]) {
      for (const length of [0, 1, 5, 7, 13, 64, 999]) {
        const min = signed ? -(2 ** (bits - 1)) : 0;
        const span = 2 ** bits;
        const values = Array.from({ length }, (_, i) => min + ((i * 7 + 3) % span));
        const packed = packSubByte(values, bits);
        assert.equal(packed.length, Math.ceil((length * bits) / 8));
        const unpacked = unpackSubByte(packed, bits, length, signed);
        assert.deepEqual(
          Array.from(unpacked),
          values,
          `${signed ? "int" : "uint"}${bits} × ${length}`,
        );
      }
    }
  }
});
