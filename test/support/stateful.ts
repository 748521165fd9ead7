import type { MLModel } from "../../src/format/model.js";
import { buildModel } from "../../src/program/builder.js";
import { randomHalf } from "./tensors.js";

/** The weight of `accumulator()`. */
export const ACCUMULATOR_WEIGHT = randomHalf([16, 16], 3);

/**
 * A stateful model (iOS18): `acc` (fp16 [1, 16]) holds the sum of W·x over the inputs so far;
 * the output `total` is that sum after this input.
 */
export function accumulator(): Promise<MLModel> {
  return buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp16", [1, 16]);
    const acc = b.stateInput("acc", "fp16", [1, 16]);
    const y = b.linear(x, await b.constant("w", ACCUMULATOR_WEIGHT), undefined, "proj");
    const total = b.binary("add", b.readState(acc, "previous"), y, "total");
    b.writeState(acc, total);
    b.output(total);
  });
}
