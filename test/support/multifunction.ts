import type { Tensor } from "../../src/kernels/dtype.js";
import type { MLModel } from "../../src/format/model.js";
import { buildMultifunctionModel, type ProgramBuilder } from "../../src/program/builder.js";
import { randomHalf } from "./tensors.js";

/** prefill ([1, 8, 256] tokens) and decode ([1, 1, 256]) sharing one 256×256 fp16 weight. */
export async function prefillDecode(
  options: { copyDecodeWeight?: boolean } = {},
): Promise<MLModel> {
  const shared = randomHalf([256, 256], 1);
  const decodeWeight = options.copyDecodeWeight
    ? { ...shared, data: (shared.data as Uint16Array).slice() }
    : shared;
  const layer = (tokens: number, weight: Tensor) => async (b: ProgramBuilder) => {
    const x = b.input("x", "fp16", [1, tokens, 256]);
    const w = await b.constant("w", weight);
    const own = await b.constant("head", randomHalf([32, 256], tokens + 10));
    b.output(b.linear(b.linear(x, w, undefined, `proj_${tokens}`), own, undefined, "head_out"));
  };
  return buildMultifunctionModel("iOS18", {
    prefill: layer(8, shared),
    decode: layer(1, decodeWeight),
  });
}

/** Bytes of a model's weight files. */
export async function weightFileBytes(model: MLModel): Promise<number> {
  let total = 0;
  for (const source of model.weightFiles.values()) {
    const reader = await source.open();
    total += reader.size;
    await reader.close();
  }
  return total;
}
