import type { MLModel } from "../../src/format/model.js";
import { buildModel } from "../../src/program/builder.js";
import { randomHalf } from "./tensors.js";

/** Four linear layers with relu between them; the input also feeds the last layer's add. */
export function fourLayers(): Promise<MLModel> {
  return buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp16", [2, 64]);
    let h = x;
    for (let i = 0; i < 4; i++) {
      const w = await b.constant(`w${i}`, randomHalf([64, 64], i + 1));
      h = b.unary("relu", b.linear(h, w, undefined, `fc${i}`), `act${i}`);
    }
    b.output(b.binary("add", h, x, "out"));
  });
}
