/**
 * Reading a neural-network WeightParams back as float32 values, whatever its storage.
 */
import type { WeightParams } from "../format/gen/NeuralNetwork_pb.js";
import { halfToFloatArray } from "../kernels/fp16.js";
import {
  dequantizeLinear,
  dequantizeLut,
  unpackBitsMsbFirst,
  type ChannelLayout,
} from "../kernels/neural-quantization.js";
import { UnsupportedError } from "../errors.js";

export type WeightStorage =
  | { kind: "empty" }
  | { kind: "float32" }
  | { kind: "float16" }
  | { kind: "quantized"; nbits: number; quantization: "linear" | "lut" }
  | { kind: "int8" }
  | { kind: "raw" };

export function weightStorage(params: WeightParams): WeightStorage {
  const quantization = params.quantization;
  if (params.floatValue.length > 0) return { kind: "float32" };
  if (params.float16Value.length > 0) return { kind: "float16" };
  if (params.int8RawValue.length > 0) return { kind: "int8" };
  if (params.rawValue.length > 0) {
    const type = quantization?.QuantizationType.case;
    if (!quantization || !type) return { kind: "raw" };
    return {
      kind: "quantized",
      nbits: Number(quantization.numberOfBits),
      quantization: type === "linearQuantization" ? "linear" : "lut",
    };
  }
  return { kind: "empty" };
}

/** Bytes the stored values take (quantization tables included). */
export function storedByteSize(params: WeightParams): number {
  const type = params.quantization?.QuantizationType;
  const tableFloats =
    type?.case === "linearQuantization"
      ? type.value.scale.length + type.value.bias.length
      : type?.case === "lookupTableQuantization"
        ? type.value.floatValue.length
        : 0;
  return (
    params.floatValue.length * 4 +
    params.float16Value.length +
    params.rawValue.length +
    params.int8RawValue.length +
    tableFloats * 4
  );
}

/**
 * Number of values held. Quantized indices are padded to whole bytes, so their count comes from
 * the layout when the layer gives one.
 */
export function weightElementCount(params: WeightParams, layout?: ChannelLayout): number {
  const storage = weightStorage(params);
  switch (storage.kind) {
    case "float32":
      return params.floatValue.length;
    case "float16":
      return params.float16Value.length >> 1;
    case "int8":
      return params.int8RawValue.length;
    case "quantized": {
      const bytes = params.rawValue.length;
      const fromLayout = layout?.shape.reduce((a, b) => a * b, 1);
      // The layer's shape counts only if it matches the stored bytes (padding included).
      const fits =
        fromLayout !== undefined &&
        Number.isInteger(fromLayout) &&
        Math.max(1, Math.ceil((fromLayout * storage.nbits) / 8)) === bytes;
      return fits ? fromLayout : Math.floor((bytes * 8) / storage.nbits);
    }
    case "raw":
      return params.rawValue.length;
    case "empty":
      return 0;
  }
}

/**
 * The values of `params` as float32. `layout` gives the per-channel grouping of linear
 * quantization; without it, scales are taken to run along the first axis.
 */
export function dequantizeWeightParams(
  params: WeightParams,
  layout?: ChannelLayout,
  where = "weight",
): Float32Array {
  const storage = weightStorage(params);
  switch (storage.kind) {
    case "empty":
      return new Float32Array(0);
    case "float32":
      return Float32Array.from(params.floatValue);
    case "float16": {
      const bytes = params.float16Value;
      const halves = new Uint16Array(bytes.length >> 1);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < halves.length; i++) halves[i] = view.getUint16(2 * i, true);
      return halfToFloatArray(halves);
    }
    case "int8": {
      const scale = linearParams(params, where).scale;
      const values = new Int8Array(
        params.int8RawValue.buffer,
        params.int8RawValue.byteOffset,
        params.int8RawValue.length,
      );
      const zeros = new Float32Array(scale.length);
      return dequantizeLinear(
        values,
        scale,
        zeros,
        channelLayout(values.length, scale.length, layout),
      );
    }
    case "quantized": {
      checkQuantizedParams(params, where);
      const { nbits } = storage;
      const count = weightElementCount(params, layout);
      if (params.rawValue.length * 8 < count * nbits) {
        throw new UnsupportedError(
          `${where}: ${params.rawValue.length} bytes cannot hold ${count} ${nbits}-bit values`,
        );
      }
      const indices = unpackBitsMsbFirst(params.rawValue, nbits, count);
      const type = params.quantization!.QuantizationType;
      if (type.case === "lookupTableQuantization")
        return dequantizeLut(indices, type.value.floatValue);
      const { scale, bias } = linearParams(params, where);
      return dequantizeLinear(indices, scale, bias, channelLayout(count, scale.length, layout));
    }
    case "raw":
      throw new UnsupportedError(
        `${where}: raw bytes without quantization parameters cannot be read as floats`,
      );
  }
}

/**
 * Checks that quantized `params` can be read: a supported bit width, a full look-up table, or
 * linear scales with one bias each. Validation runs it at load, so a command that keeps such
 * weights as they are never writes a model that does not load.
 */
export function checkQuantizedParams(params: WeightParams, where: string): void {
  const storage = weightStorage(params);
  if (storage.kind === "int8") linearParams(params, where);
  if (storage.kind !== "quantized") return;
  const { nbits } = storage;
  if (nbits < 1 || nbits > 8) {
    throw new UnsupportedError(`${where}: ${nbits}-bit quantized weights are not supported`);
  }
  if (storage.quantization === "lut") {
    const type = params.quantization!.QuantizationType;
    const lut = type.case === "lookupTableQuantization" ? type.value.floatValue : [];
    if (lut.length < 2 ** nbits) {
      throw new UnsupportedError(
        `${where}: look-up table has ${lut.length} of ${2 ** nbits} entries`,
      );
    }
    return;
  }
  const { scale, bias } = linearParams(params, where);
  if (scale.length !== bias.length) {
    throw new UnsupportedError(`${where}: ${scale.length} scales but ${bias.length} biases`);
  }
}

function linearParams(params: WeightParams, where: string) {
  const type = params.quantization?.QuantizationType;
  if (type?.case !== "linearQuantization" || type.value.scale.length === 0) {
    throw new UnsupportedError(`${where}: quantized weights without a linear scale`);
  }
  return type.value;
}

/**
 * The layer's layout when it describes the values held and its channel count matches the
 * scales, else scales along axis 0 (a layer whose sizes disagree with its weights is not
 * trusted to size anything).
 */
function channelLayout(count: number, scales: number, layout?: ChannelLayout): ChannelLayout {
  if (scales === 1) return { shape: [count], axis: 0 };
  const fits =
    layout !== undefined &&
    layout.shape.length > 1 &&
    layout.shape[layout.axis] === scales &&
    layout.shape.reduce((a, b) => a * b, 1) === count;
  if (fits) return layout;
  if (count % scales !== 0) {
    throw new UnsupportedError(
      `${count} values do not divide into ${scales} quantization channels`,
    );
  }
  return { shape: [scales, count / scales], axis: 0 };
}
