/** A transformer-shaped fp16 ML program of a requested size, generated tensor by tensor. */
import type { MLModel } from "../src/format/model.js";
import { buildModel, type ProgramBuilder, type Var } from "../src/program/builder.js";

/** Random fp16 weights in ±[2^-6, 2^-1), as raw bits, from a fast deterministic generator. */
function randomHalves(count: number, seed: number): Uint16Array {
  const out = new Uint16Array(count);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    const exponent = 9 + ((state >>> 11) % 5);
    out[i] = (state & 0x8000) | (exponent << 10) | (state >>> 22);
  }
  return out;
}

export interface TransformerShape {
  layers: number;
  hidden: number;
  sequence: number;
}

/** Layers of hidden size `hidden` (12·hidden² fp16 parameters each) to reach `bytes`. */
export function shapeForBytes(bytes: number, hidden = 1024): TransformerShape {
  return { layers: Math.max(1, Math.round(bytes / (24 * hidden * hidden))), hidden, sequence: 16 };
}

export function generateTransformer({
  layers,
  hidden,
  sequence,
}: TransformerShape): Promise<MLModel> {
  let seed = 1;
  const weight = (b: ProgramBuilder, name: string, rows: number, cols: number) =>
    b.constant(name, {
      dtype: "fp16",
      shape: [rows, cols],
      data: randomHalves(rows * cols, seed++),
    });
  const bias = (b: ProgramBuilder, name: string, size: number) =>
    b.constant(name, { dtype: "fp16", shape: [size], data: randomHalves(size, seed++) });
  return buildModel("iOS18", async (b) => {
    let x: Var = b.input("x", "fp16", [1, sequence, hidden]);
    for (let l = 0; l < layers; l++) {
      const p = `layer${l}`;
      const q = b.linear(x, await weight(b, `${p}_q_weight`, hidden, hidden), undefined, `${p}_q`);
      const k = b.linear(x, await weight(b, `${p}_k_weight`, hidden, hidden), undefined, `${p}_k`);
      const v = b.linear(x, await weight(b, `${p}_v_weight`, hidden, hidden), undefined, `${p}_v`);
      const scores = b.softmax(b.matmul(q, k, false, true, `${p}_scores`), -1, `${p}_softmax`);
      const attention = b.matmul(scores, v, false, false, `${p}_attention`);
      const o = b.linear(
        attention,
        await weight(b, `${p}_o_weight`, hidden, hidden),
        undefined,
        `${p}_o`,
      );
      const gamma = await bias(b, `${p}_ln_gamma`, hidden);
      const beta = await bias(b, `${p}_ln_beta`, hidden);
      const h = b.layerNorm(b.binary("add", x, o, `${p}_residual1`), gamma, beta, 1e-5, `${p}_ln`);
      const up = b.linear(
        h,
        await weight(b, `${p}_up_weight`, 4 * hidden, hidden),
        await bias(b, `${p}_up_bias`, 4 * hidden),
        `${p}_up`,
      );
      const down = b.linear(
        b.gelu(up, "EXACT", `${p}_gelu`),
        await weight(b, `${p}_down_weight`, hidden, 4 * hidden),
        undefined,
        `${p}_down`,
      );
      x = b.binary("add", h, down, `${p}_residual2`);
    }
    b.output(x);
  });
}
