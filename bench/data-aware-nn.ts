/**
 * Sensitivity-weighted k-means on a neural network, measured by task agreement: SqueezeNet
 * (../shared/models/apple_squeezenet_fp16) quantize-weights kmeans_lut, plain vs
 * `algorithm: "sensitive-kmeans"` calibrated on the 6 even-numbered photos of
 * ../shared/eval/images, against the float16 model's probabilities on all 12 photos and on the
 * 6 held-out ones. Sensitive variants: "proxy" chooses each layer's table by the second-moment
 * estimate, "layer" and "output" by measuring the candidates at that horizon (neural-measure.ts).
 * Run: npm run build && node dist/bench/data-aware-nn.js [--variants plain,proxy,layer,output] [bits...]
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { agreement, type Agreement } from "../src/analysis/task-metrics.js";
import { measuredCalibration, type MeasureHorizon } from "../src/calibrate/neural-measure.js";
import { collectNeuralStatistics } from "../src/calibrate/neural-statistics.js";
import { readNpy } from "../src/format/npy.js";
import { loadModel } from "../src/format/model.js";
import type { Tensor } from "../src/kernels/dtype.js";
import { quantizeWeights, type QuantizeWeightsOptions } from "../src/passes/neural-quantize.js";
import { WorkerPool } from "../src/parallel/pool.js";
import { loadRunner } from "../src/runtime/runner.js";

const SHARED = resolve("../shared");
const MODEL = `${SHARED}/models/apple_squeezenet_fp16/SqueezeNetFP16.mlmodel`;
const IMAGES = `${SHARED}/eval/images/images.npy`;

/** The photos as samples of `image` ([3, 227, 227] each). */
function photos(): Record<string, Tensor>[] {
  const batch = readNpy(readFileSync(IMAGES), IMAGES);
  const shape = batch.shape.slice(1);
  const size = shape.reduce((a, b) => a * b, 1);
  const data = batch.data as Float32Array;
  return Array.from({ length: batch.shape[0] }, (_, i) => ({
    image: { dtype: "fp32", shape, data: data.subarray(i * size, (i + 1) * size) },
  }));
}

const args = process.argv.slice(2);
const variantsAt = args.indexOf("--variants");
const variants =
  variantsAt >= 0 ? args.splice(variantsAt, 2)[1].split(",") : ["plain", "proxy", "layer"];
const bits = args.map(Number);
const all = photos();
const calibrationPhotos = all.filter((_, i) => i % 2 === 0);
const heldOut = all.filter((_, i) => i % 2 === 1);
const model = await loadModel(MODEL);
const pool = new WorkerPool(1);
try {
  const reference = await loadRunner(model, { pool });
  let start = performance.now();
  const statistics = collectNeuralStatistics(model, calibrationPhotos, { gram: true });
  const seconds = ((performance.now() - start) / 1000).toFixed(1);
  console.log(`calibration on ${calibrationPhotos.length} photos (Gram matrices): ${seconds} s`);
  const cell = (a: Agreement) =>
    `${Math.round(a.top1 * a.rows)}/${a.rows} | ${a.snrDb.toFixed(2)} | ${a.meanKl.toFixed(4)}`;
  console.log(
    "| variant | top-1 all | SNR dB all | KL all | top-1 held out | SNR dB held out | KL held out | α chosen |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const nbits of bits.length > 0 ? bits : [6, 4, 3]) {
    for (const variant of variants) {
      const exponents = new Map<string, number>();
      const calibration =
        variant === "plain" || variant === "proxy"
          ? statistics
          : measuredCalibration(model, calibrationPhotos, statistics, {
              horizon: variant as MeasureHorizon,
            });
      const options: QuantizeWeightsOptions = {
        nbits,
        mode: "kmeans_lut",
        ...(variant !== "plain" && { algorithm: "sensitive-kmeans", calibration }),
        onField: ({ importanceExponent: a, reluActive }) => {
          const key = reluActive ? "relu" : String(a);
          if (a !== undefined) exponents.set(key, (exponents.get(key) ?? 0) + 1);
        },
      };
      start = performance.now();
      const compressed = await quantizeWeights(model, options);
      const took = ((performance.now() - start) / 1000).toFixed(1);
      const runner = await loadRunner(compressed, { pool });
      const [onAll, onHeldOut] = [
        agreement(reference, runner, all),
        agreement(reference, runner, heldOut),
      ];
      const chosen = [...exponents].map(([a, n]) => `${n}× ${a}`).join(", ");
      const name = `${variant} ${nbits}-bit (${took} s)`;
      console.log(`| ${name} | ${cell(onAll)} | ${cell(onHeldOut)} | ${chosen} |`);
      await compressed.close();
    }
  }
} finally {
  await pool.close();
  await model.close();
}
