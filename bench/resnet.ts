/**
 * ResNet-18 (torchvision's layout, batch norms folded into the convolutions' biases) as an
 * fp32 ML program with seeded random weights, for the side-by-side inference benchmark.
 */
import type { MLModel } from "../src/format/model.js";
import { buildModel, type ProgramBuilder, type Var } from "../src/program/builder.js";
import { immediateValue } from "../src/program/values.js";

/** Seeded normal values (Box–Muller over xorshift) scaled by `std`. */
function gaussian(count: number, std: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 1) / 2 ** 32;
  };
  for (let i = 0; i < count; i++) {
    out[i] = std * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  return out;
}

const ints = (values: number[]) =>
  immediateValue({ dtype: "int32", shape: [values.length], data: Int32Array.from(values) });

export function resnet18(size: number): Promise<MLModel> {
  let seed = 1;
  return buildModel("iOS17", async (b) => {
    /** A convolution with He-scaled weights and a small bias, then optionally ReLU. */
    const conv = async (
      x: Var,
      out: number,
      kernel: number,
      stride: number,
      relu: boolean,
    ): Promise<Var> => {
      const fanIn = x.shape[1] * kernel * kernel;
      const shape = [out, x.shape[1], kernel, kernel];
      const weight = await b.constant("weight", {
        dtype: "fp32",
        shape,
        data: gaussian(out * fanIn, Math.sqrt(2 / fanIn), seed++),
      });
      const bias = await b.constant("bias", {
        dtype: "fp32",
        shape: [out],
        data: gaussian(out, 0.01, seed++),
      });
      const pad = (kernel - 1) >> 1;
      const y = b.conv(x, weight, {
        bias,
        strides: [stride, stride],
        padType: "custom",
        pad: [pad, pad, pad, pad],
      });
      return relu ? b.unary("relu", y) : y;
    };
    const block = async (x: Var, out: number, stride: number): Promise<Var> => {
      const inner = await conv(await conv(x, out, 3, stride, true), out, 3, 1, false);
      const shortcut =
        stride === 1 && x.shape[1] === out ? x : await conv(x, out, 1, stride, false);
      return b.unary("relu", b.binary("add", inner, shortcut));
    };
    let x = b.input("image", "fp32", [1, 3, size, size]);
    x = await conv(x, 64, 7, 2, true);
    x = maxPool(b, x);
    for (const [channels, stride] of [
      [64, 1],
      [128, 2],
      [256, 2],
      [512, 2],
    ]) {
      x = await block(x, channels, stride);
      x = await block(x, channels, 1);
    }
    const pooled = b.reduceMean(x, [2, 3]);
    const fc = await b.constant("fc_weight", {
      dtype: "fp32",
      shape: [1000, 512],
      data: gaussian(512_000, Math.sqrt(1 / 512), seed++),
    });
    const fcBias = await b.constant("fc_bias", {
      dtype: "fp32",
      shape: [1000],
      data: gaussian(1000, 0.01, seed++),
    });
    b.output(b.linear(pooled, fc, fcBias, "logits"));
  });
}

/** 3×3 max pooling, stride 2, padding 1. */
function maxPool(b: ProgramBuilder, x: Var): Var {
  const [n, c, h, w] = x.shape;
  const out = (size: number) => Math.floor((size + 2 - 3) / 2) + 1;
  return b.op(
    "max_pool",
    "max_pool",
    {
      x: x.name,
      kernel_sizes: ints([3, 3]),
      strides: ints([2, 2]),
      pad_type: immediateValue({ dtype: "string", shape: [], data: ["custom"] }),
      pad: ints([1, 1, 1, 1]),
      ceil_mode: immediateValue({ dtype: "bool", shape: [], data: Uint8Array.of(0) }),
    },
    "fp32",
    [n, c, out(h), out(w)],
  );
}
