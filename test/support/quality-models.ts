/**
 * Small models for the quality commands: a byte-LM-shaped transformer-free stack (token ids →
 * embedding → MLP with a residual → logits) whose weights are all large enough to compress,
 * with an option to destroy one weight so per-op comparisons have something to find.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MLModel } from "../../src/format/model.js";
import { buildModel } from "../../src/program/builder.js";
import type { Tensor } from "../../src/kernels/dtype.js";
import { seededRandom } from "../../src/kernels/random.js";

export const VOCAB = 64;
export const WINDOW = 16;
const HIDDEN = 128;

/** A normal-ish fp32 matrix scaled by 1/sqrt(fan-in), seeded. */
function weight(shape: [number, number], seed: number, scale = 1): Tensor {
  const random = seededRandom(seed);
  const data = Float32Array.from(
    { length: shape[0] * shape[1] },
    () => ((random() + random() + random() - 1.5) * 2 * scale) / Math.sqrt(shape[1]),
  );
  return { dtype: "fp32", shape, data };
}

/**
 * ids [1, 16] → gather(embedding) → linear fc1 + gelu → linear fc2 (+ residual) → linear head
 * → logits [1, 16, 64]. `destroy` names a weight (embedding, fc1_w, fc2_w, head_w) replaced by
 * large noise.
 */
export function tinyLm(destroy?: string): Promise<MLModel> {
  return buildModel("iOS18", async (b) => {
    const make = (name: string, shape: [number, number], seed: number) =>
      b.constant(
        name,
        weight(shape, name === destroy ? seed + 1000 : seed, name === destroy ? 30 : 1),
      );
    const ids = b.input("ids", "int32", [1, WINDOW]);
    const x = b.gather(await make("embedding", [VOCAB, VOCAB], 1), ids, 0, "embed");
    const h = b.gelu(
      b.linear(x, await make("fc1_w", [HIDDEN, VOCAB], 2), undefined, "fc1"),
      "EXACT",
      "act",
    );
    const y = b.linear(h, await make("fc2_w", [VOCAB, HIDDEN], 3), undefined, "fc2");
    const r = b.binary("add", x, y, "residual");
    b.output(b.linear(r, await make("head_w", [VOCAB, VOCAB], 4), undefined, "head"));
  });
}

/** Seeded token windows [n, 16] as an .npy-ready tensor. */
export function tokenWindows(n: number, seed = 5): Tensor {
  const random = seededRandom(seed);
  const data = Int32Array.from({ length: n * WINDOW }, () => Math.floor(random() * VOCAB));
  return { dtype: "int32", shape: [n, WINDOW], data };
}

/** A fresh temporary folder for a test's files. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `coreml-optimize-${prefix}-`));
}
