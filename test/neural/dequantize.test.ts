import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { WeightParamsSchema } from "../../src/format/gen/NeuralNetwork_pb.js";
import { UnsupportedError } from "../../src/errors.js";
import {
  dequantizeWeightParams,
  weightElementCount,
  weightStorage,
} from "../../src/neural/dequantize.js";

const lut2 = (rawValue: number[]) =>
  create(WeightParamsSchema, {
    rawValue: Uint8Array.from(rawValue),
    quantization: {
      numberOfBits: 2n,
      QuantizationType: { case: "lookupTableQuantization", value: { floatValue: [-1, 0, 0.5, 2] } },
    },
  });

test("look-up-table weights: the layer's shape counts when it fits the bytes", () => {
  const params = lut2([0b00011011, 0b11000000]);
  assert.deepEqual(weightStorage(params), { kind: "quantized", nbits: 2, quantization: "lut" });
  assert.deepEqual(
    [...dequantizeWeightParams(params, { shape: [5], axis: 0 })],
    [-1, 0, 0.5, 2, 2],
  );
  // A shape that cannot match two bytes is ignored: every 2-bit slot is read.
  assert.equal(weightElementCount(params, { shape: [100], axis: 0 }), 8);
  assert.equal(dequantizeWeightParams(params).length, 8);
});

test("float16 bytes are little-endian halves", () => {
  const params = create(WeightParamsSchema, {
    float16Value: Uint8Array.from([0x00, 0x3c, 0x00, 0xc0]),
  });
  assert.deepEqual([...dequantizeWeightParams(params)], [1, -2]);
});

test("linear weights without matching scales, and raw bytes without quantization, are refused", () => {
  const mismatched = create(WeightParamsSchema, {
    rawValue: Uint8Array.from([1, 2, 3]),
    quantization: {
      numberOfBits: 8n,
      QuantizationType: { case: "linearQuantization", value: { scale: [1, 2], bias: [0] } },
    },
  });
  assert.throws(() => dequantizeWeightParams(mismatched), UnsupportedError);
  const raw = create(WeightParamsSchema, { rawValue: Uint8Array.from([1]) });
  assert.equal(weightStorage(raw).kind, "raw");
  assert.throws(() => dequantizeWeightParams(raw, undefined, "layer x weights"), /layer x weights/);
});

test("linear weights whose layer claims more elements than it holds are read by what is held", () => {
  // 8 bytes of 8-bit indices, 2 channels; the layer (a corrupt kernel size) claims [2, 1, 1000, 1000].
  const params = create(WeightParamsSchema, {
    rawValue: Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
    quantization: {
      numberOfBits: 8n,
      QuantizationType: { case: "linearQuantization", value: { scale: [1, 10], bias: [0, 0.5] } },
    },
  });
  const values = dequantizeWeightParams(params, { shape: [2, 1, 1000, 1000], axis: 0 });
  assert.deepEqual([...values], [0, 1, 2, 3, 40.5, 50.5, 60.5, 70.5]);
});
