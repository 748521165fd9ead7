/**
 * One program of every op the fast kernels take (convolutions, depthwise, linear, matmul,
 * fused and plain clips, quantize and dequantize), run on seeded inputs: by
 * test/runtime/simd-fallback.test.ts with and without WebAssembly.
 */
import { buildModel } from "../../src/program/builder.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { randomSamples } from "../../src/runtime/inputs.js";

function noise(shape: number[], seed: number) {
  let state = seed;
  const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
  return { dtype: "fp32" as const, shape, data };
}

/** The program's outputs as plain arrays, and whether the fast kernels ran. */
export async function runtimeResults(): Promise<{ fast: boolean; outputs: number[][] }> {
  const model = await buildModel("iOS17", async (b) => {
    const x = b.input("x", "fp32", [1, 6, 13, 11]);
    const scalar = (name: string, value: number) =>
      b.constant(name, { dtype: "fp32", shape: [], data: Float32Array.of(value) });
    const [zero, six] = [await scalar("zero", 0), await scalar("six", 6)];
    const clip = (v: { name: string; shape: readonly number[] }) =>
      b.op("clip", "clip", { x: v.name, alpha: zero.name, beta: six.name }, "fp32", v.shape);
    const y = clip(
      b.conv(x, await b.constant("w1", noise([12, 6, 3, 3], 1)), {
        padType: "same",
        bias: await b.constant("b1", noise([12], 2)),
      }),
    );
    const z = b.conv(y, await b.constant("w2", noise([12, 1, 3, 3], 3)), {
      groups: 12,
      strides: [2, 2],
      padType: "same",
    });
    const scale = await scalar("scale", 0.01);
    const int8 = b.op(
      "quantize",
      "quantize",
      {
        input: z.name,
        scale: scale.name,
        output_dtype: (await b.constant("dtype", { dtype: "string", shape: [], data: ["int8"] }))
          .name,
      },
      "int8",
      z.shape,
    );
    const back = b.op(
      "dequantize",
      "dequantize",
      { input: int8.name, scale: scale.name },
      "fp32",
      z.shape,
    );
    b.output(clip(back));
    const flat = b.reshape(z, [12, 42]);
    b.output(
      b.linear(
        flat,
        await b.constant("w3", noise([9, 42], 4)),
        await b.constant("b3", noise([9], 5)),
      ),
    );
    b.output(b.matmul(flat, flat, false, true));
  });
  try {
    const interpreter = await Interpreter.load(model);
    const outputs = interpreter.predict(randomSamples(interpreter.inputs, 1, 1)[0]);
    const fast = (interpreter as unknown as { simd?: object }).simd !== undefined;
    return { fast, outputs: Object.values(outputs).map((t) => Array.from(t.data as Float32Array)) };
  } finally {
    await model.close();
  }
}
