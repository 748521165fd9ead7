/**
 * PyTorch-converted models must reproduce PyTorch's stored outputs. Tolerance: the maximum
 * absolute error relative to the reference output's range, 1e-4 for fp32 programs and 2e-2 for
 * fp16 ones (whose weights and activations are rounded to fp16).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readNpy } from "../../src/format/npy.js";
import { loadModel } from "../../src/format/model.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { Interpreter } from "../../src/runtime/interpreter.js";
import { FIXTURES, SHARED } from "../support/paths.js";

const TOLERANCE = { fp32: 1e-4, fp16: 2e-2 } as const;
/** Smallest positive fp16 value: outputs below it cannot survive an fp16 program. */
const FP16_SMALLEST = 2 ** -24;

interface IndexEntry {
  model: string;
  precision: "fp32" | "fp16";
  inputs: { name: string; file: string }[];
  outputs: { name: string; file: string }[];
}

function entries(dir: string): IndexEntry[] {
  const index = join(dir, "index.json");
  if (!existsSync(index)) return [];
  return (JSON.parse(readFileSync(index, "utf8")) as { models: IndexEntry[] }).models;
}

const npy = (dir: string, file: string): Tensor => readNpy(readFileSync(join(dir, file)), file);

const sources = [join(FIXTURES, "runtime"), ...(SHARED ? [join(SHARED, "runtime")] : [])];

for (const dir of sources) {
  for (const entry of entries(dir)) {
    const path = join(dir, entry.model);
    test(
      `${entry.model} (${dir.includes("fixtures") ? "fixture" : "shared"}) matches PyTorch`,
      { skip: !existsSync(path) },
      async () => {
        const model = await loadModel(path);
        try {
          const interpreter = await Interpreter.load(model);
          const inputs: Record<string, Tensor> = {};
          for (const input of entry.inputs) inputs[input.name] = npy(dir, input.file);
          const outputs = interpreter.predict(inputs);
          for (const output of entry.outputs) {
            const expected = npy(dir, output.file).data as Float32Array;
            const actual = outputs[output.name].data as Float32Array;
            assert.equal(actual.length, expected.length);
            let lo = Infinity;
            let hi = -Infinity;
            let maxError = 0;
            let peak = 0;
            for (let i = 0; i < expected.length; i++) {
              lo = Math.min(lo, expected[i]);
              hi = Math.max(hi, expected[i]);
              peak = Math.max(peak, Math.abs(expected[i]));
              maxError = Math.max(maxError, Math.abs(actual[i] - expected[i]));
            }
            if (entry.precision === "fp16" && peak < FP16_SMALLEST) {
              // Randomly initialised deep nets can shrink activations below fp16's range: an
              // fp16 program then yields (near) zero, as it would on device.
              assert.ok(
                actual.every((v) => Math.abs(v) <= FP16_SMALLEST),
                "fp16 output should underflow",
              );
              continue;
            }
            const relative = maxError / (hi - lo);
            assert.ok(
              relative <= TOLERANCE[entry.precision],
              `${output.name}: max error ${relative} of the range`,
            );
          }
        } finally {
          await model.close();
        }
      },
    );
  }
}
