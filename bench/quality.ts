/**
 * `npm run eval`: what per-weight recipes buy on the shared evaluation kit (../shared/eval).
 * The byte LM: sensitivity on 8 calibration windows (training files), recipes at 4.5 and 3
 * bits per weight, and uniform configs, all judged by perplexity on the 64 held-out windows.
 * SqueezeNet (a neural network): sensitivity per layer on 6 of the 12 shared photos (18
 * candidates, sensitive and GPTQ k-means among them), recipes at 4.5 and 3 bits per weight and uniform
 * `quantize-weights` configs, by top-1 agreement, top-5, KL and SNR against the float16 model on
 * all 12 photos and on the 6 held out. Writes dist/bench/quality.json and prints markdown tables;
 * `--squeezenet` runs only SqueezeNet. SqueezeNet options: `--calibration-photos N` calibrates
 * on the N first even-numbered photos instead, `--candidates a,b,…` keeps only those
 * sensitivity candidates (labels below), `--uniform a,b,…` only those uniform variants,
 * `--table FILE` takes the sensitivity table an earlier run wrote instead of measuring it.
 * Each recipe is applied three ways: its GPTQ and sensitive k-means layers fitted to the float
 * network's statistics; in network order to those of the network quantized so far; and so,
 * each fitted to give the float network's output (compensated).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { chooseRecipe, type RecipeTarget } from "../src/analysis/recipe.js";
import { applyRecipe } from "../src/analysis/recipe-check.js";
import {
  defaultCandidates,
  measureSensitivity,
  type Candidate,
  type SensitivityTable,
} from "../src/analysis/sensitivity.js";
import {
  AgreementStats,
  perplexity,
  scoresOutput,
  type Agreement,
} from "../src/analysis/task-metrics.js";
import { quantizeWeightsCandidate } from "../src/analysis/neural-sensitivity.js";
import { neuralNetworkWeights } from "../src/neural/weights.js";
import { collectNeuralStatistics } from "../src/calibrate/neural-statistics.js";
import { palettizerConfig } from "../src/config/palettizer.js";
import { linearQuantizerConfig } from "../src/config/linear-quantizer.js";
import type { OpConfig } from "../src/config/optimization-config.js";
import { loadModel, type MLModel } from "../src/format/model.js";
import { readNpy } from "../src/format/npy.js";
import type { Tensor } from "../src/kernels/dtype.js";
import { compressModel } from "../src/passes/registry.js";
import { quantizeWeights, type NeuralKmeansAlgorithm } from "../src/passes/neural-quantize.js";
import { WorkerPool } from "../src/parallel/pool.js";
import { loadRunner } from "../src/runtime/runner.js";

const SHARED = resolve("../shared");
const BYTELM = join(SHARED, "eval/bytelm");
const IMAGES = join(SHARED, "eval/images");
const CALIBRATION_WINDOWS = 8;

/** Rows of an .npy batch as samples of `input` shaped [1, ...row]. */
function rows(file: string, input: string, limit = Infinity): Record<string, Tensor>[] {
  const batch = readNpy(readFileSync(file), file);
  const shape = [1, ...batch.shape.slice(1)];
  const size = shape.reduce((a, b) => a * b, 1);
  const count = Math.min(batch.shape[0], limit);
  const data = batch.data as Int32Array | Float32Array;
  return Array.from({ length: count }, (_, i) => ({
    [input]: { dtype: batch.dtype, shape, data: data.subarray(i * size, (i + 1) * size) } as Tensor,
  }));
}

interface Row {
  variant: string;
  bitsPerWeight: number;
  perplexity: number;
  change: number;
}

const candidates: Candidate[] = [
  ...defaultCandidates(),
  ...[4, 3].map((nbits) => ({
    label: `kmeans${nbits}/g32`,
    config: palettizerConfig({ nbits, granularity: "per_grouped_channel", groupSize: 32 }),
  })),
];

const uniform: [string, OpConfig][] = [
  ["uniform int8 per channel", linearQuantizerConfig({ dtype: "int8" })],
  [
    "uniform int4 per block 32",
    linearQuantizerConfig({ dtype: "int4", granularity: "per_block", blockSize: 32 }),
  ],
  [
    "uniform 4-bit k-means per grouped channel (32)",
    palettizerConfig({ nbits: 4, granularity: "per_grouped_channel", groupSize: 32 }),
  ],
  ["uniform 4-bit k-means per tensor", palettizerConfig({ nbits: 4 })],
  [
    "uniform 3-bit k-means per grouped channel (32)",
    palettizerConfig({ nbits: 3, granularity: "per_grouped_channel", groupSize: 32 }),
  ],
  ["uniform 3-bit k-means per tensor", palettizerConfig({ nbits: 3 })],
];

async function byteLm(pool: WorkerPool): Promise<{ rows: Row[]; sensitivitySeconds: number }> {
  const model = await loadModel(join(BYTELM, "bytelm_fp32.mlpackage"));
  const calibration = rows(join(BYTELM, "calib_ids.npy"), "ids", CALIBRATION_WINDOWS);
  const evaluation = rows(join(BYTELM, "eval_ids.npy"), "ids");
  const evaluate = async (candidate: MLModel) =>
    perplexity(await loadRunner(candidate, { pool }), evaluation).perplexity;
  const base = await evaluate(model);
  const result: Row[] = [{ variant: "float32", bitsPerWeight: 32, perplexity: base, change: 0 }];
  const add = (variant: string, bitsPerWeight: number, value: number) => {
    const row = { variant, bitsPerWeight, perplexity: value, change: value / base - 1 };
    result.push(row);
    console.error(JSON.stringify(row));
  };

  const started = Date.now();
  const table = await measureSensitivity(model, calibration, { pool, candidates });
  const sensitivitySeconds = (Date.now() - started) / 1000;
  writeFileSync("dist/bench/quality-sensitivity.json", JSON.stringify(table, null, 1));
  const elements = table.weights.reduce((n, w) => n + w.elements, 0);
  for (const [label, target] of [
    ["recipe 4.5 bits", { bits: 4.5 }],
    ["recipe 3 bits", { bits: 3 }],
  ] as [string, RecipeTarget][]) {
    const recipe = chooseRecipe(table, target);
    const applied = await applyRecipe(model, recipe, { pool });
    const bytes = table.weights.reduce(
      (n, w) => n + (applied.bytesAfter.get(w.name) ?? w.bytes),
      0,
    );
    add(label, (bytes * 8) / elements, await evaluate(applied.model));
    await applied.model.close();
  }
  for (const [label, config] of uniform) {
    const compressed = await compressModel(model, { globalConfig: config }, { pool });
    const bytes = compressed.weights.reduce((n, w) => n + w.bytesAfter, 0);
    add(label, (bytes * 8) / elements, await evaluate(compressed.model));
    await compressed.model.close();
  }
  await model.close();
  return { rows: result, sensitivitySeconds };
}

type Scores = Omit<Agreement, "rows">;

interface ImageRow {
  variant: string;
  bitsPerWeight: number;
  /** On all 12 photos, and on those not used for calibration. */
  all: Scores;
  heldOut: Scores;
}

/** The value of flag `name` (`--name value`), if given. */
function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

/**
 * Photos the SqueezeNet recipes are calibrated on: the N first even-numbered ones (N = 6 unless
 * --calibration-photos N; 6 is the held-out split of bench/data-aware-nn.ts).
 */
const CALIBRATION_PHOTOS = Array.from(
  { length: Number(flag("calibration-photos") ?? 6) },
  (_, i) => 2 * i,
);

/** Only the labels a comma-separated flag lists, if given. */
const listed = (name: string) => (label: string) => flag(name)?.split(",").includes(label) ?? true;

/** Bits per weight over every weight of a neural network (indices, tables, scales). */
function networkBits(model: MLModel): number {
  const weights = neuralNetworkWeights(model.spec);
  const bytes = weights.reduce((n, w) => n + w.byteSize, 0);
  return (bytes * 8) / weights.reduce((n, w) => n + w.elementCount, 0);
}

const RECIPE_FITTINGS: [string, { sequential?: boolean; compensate?: boolean }][] = [
  ["", {}],
  [", sequential", { sequential: true }],
  [", compensated", { compensate: true }],
];

const SENSITIVITY_TABLE = "dist/bench/quality-squeezenet-sensitivity.json";

/** JSON has no infinities (a trial that changes nothing has an infinite SNR). */
const infinities = (_: string, v: unknown) =>
  v === Infinity ? "inf" : v === -Infinity ? "-inf" : v;
const finities = (_: string, v: unknown) => (v === "inf" ? Infinity : v === "-inf" ? -Infinity : v);

function readTable(path: string): SensitivityTable {
  return JSON.parse(readFileSync(path, "utf8"), finities) as SensitivityTable;
}

async function squeezeNet(
  pool: WorkerPool,
): Promise<{ rows: ImageRow[]; sensitivitySeconds: number }> {
  const path = join(SHARED, "models/apple_squeezenet_fp16/SqueezeNetFP16.mlmodel");
  const model = await loadModel(path);
  const reference = await loadRunner(model, { pool });
  const photos = rows(join(IMAGES, "images.npy"), reference.inputs[0].name).map((sample) => {
    // The network takes [3, 227, 227] images; the batch rows are [1, 3, 227, 227].
    const [name, tensor] = Object.entries(sample)[0];
    return { [name]: { ...tensor, shape: tensor.shape.slice(1) } };
  });
  const calibration = CALIBRATION_PHOTOS.map((i) => photos[i]);
  const result: ImageRow[] = [];
  const output = scoresOutput(reference);
  const expected = photos.map((photo) => reference.predict(photo)[output]);
  const add = async (variant: string, compressed: MLModel) => {
    const runner = await loadRunner(compressed, { pool });
    const [all, held] = [new AgreementStats(), new AgreementStats()];
    photos.forEach((photo, i) => {
      const a = expected[i].data as Float32Array;
      const b = runner.predict(photo)[output].data as Float32Array;
      all.add(a, b, a.length);
      if (!CALIBRATION_PHOTOS.includes(i)) held.add(a, b, a.length);
    });
    const scores = (stats: AgreementStats): Scores => {
      const { top1, top5, meanKl, snrDb } = stats.result();
      return { top1, top5, meanKl, snrDb };
    };
    const row = {
      variant,
      bitsPerWeight: networkBits(compressed),
      all: scores(all),
      heldOut: scores(held),
    };
    result.push(row);
    console.error(JSON.stringify(row));
  };

  const started = Date.now();
  const saved = flag("table");
  const table = saved
    ? readTable(saved)
    : await measureSensitivity(model, calibration, {
        pool,
        candidates: [
          ["int8/ch", 8, "linear"],
          ["lin6/ch", 6, "linear"],
          ["lin5/ch", 5, "linear"],
          ["kmeans6", 6, "kmeans_lut"],
          ["kmeans5", 5, "kmeans_lut"],
          ["kmeans4", 4, "kmeans_lut"],
          ["kmeans3", 3, "kmeans_lut"],
          ["kmeans2", 2, "kmeans_lut"],
          ...[6, 5, 4, 3, 2].map((nbits) => [
            `skm${nbits}`,
            nbits,
            "kmeans_lut",
            "sensitive-kmeans",
          ]),
          ...[6, 5, 4, 3, 2].map((nbits) => [`gptq${nbits}`, nbits, "kmeans_lut", "gptq-kmeans"]),
        ]
          .filter(([label]) => listed("candidates")(label as string))
          .map(([label, nbits, mode, algorithm]) => ({
            label: label as string,
            config: quantizeWeightsCandidate({
              nbits: nbits as number,
              mode: mode as "linear",
              ...(algorithm && { algorithm: algorithm as NeuralKmeansAlgorithm }),
            }),
          })),
      });
  const sensitivitySeconds = saved ? NaN : (Date.now() - started) / 1000;
  let kept: ReturnType<typeof collectNeuralStatistics> | undefined;
  const statistics = () => (kept ??= collectNeuralStatistics(model, calibration, { gram: true }));
  writeFileSync(SENSITIVITY_TABLE, JSON.stringify(table, infinities, 1));
  for (const bits of [4.5, 3]) {
    const recipe = chooseRecipe(table, { bits });
    console.error(recipe.choices.map((c) => `${c.weight}: ${c.candidate}`).join(", "));
    for (const [how, fitting] of RECIPE_FITTINGS) {
      const applied = await applyRecipe(model, recipe, { pool, samples: calibration, ...fitting });
      await add(`recipe ${bits} bits${how}`, applied.model);
      await applied.model.close();
    }
  }
  const variants: [string, Parameters<typeof quantizeWeights>[1]][] = [
    ["uniform 8-bit linear", { nbits: 8, mode: "linear" }],
    ["uniform 6-bit linear", { nbits: 6, mode: "linear" }],
    ["uniform 6-bit k-means", { nbits: 6, mode: "kmeans_lut" }],
    ["uniform 5-bit linear", { nbits: 5, mode: "linear" }],
    ["uniform 5-bit k-means", { nbits: 5, mode: "kmeans_lut" }],
    ["uniform 4-bit linear", { nbits: 4, mode: "linear" }],
    ["uniform 4-bit k-means", { nbits: 4, mode: "kmeans_lut" }],
    ["uniform 3-bit k-means", { nbits: 3, mode: "kmeans_lut" }],
    // Where a 4.5-bit budget must put conv10 (41 % of the weights): 4 bits, the rest at 5 or 6.
    [
      "5-bit k-means, conv10 4-bit",
      { nbits: 5, mode: "kmeans_lut", layers: { conv10: { nbits: 4, mode: "kmeans_lut" } } },
    ],
    [
      "6-bit k-means, conv10 4-bit",
      { nbits: 6, mode: "kmeans_lut", layers: { conv10: { nbits: 4, mode: "kmeans_lut" } } },
    ],
    ...[5, 4, 3].map((nbits): (typeof variants)[number] => [
      `uniform ${nbits}-bit sensitive k-means`,
      { nbits, mode: "kmeans_lut", algorithm: "sensitive-kmeans", calibration: statistics() },
    ]),
    ...[5, 4, 3].map((nbits): (typeof variants)[number] => [
      `uniform ${nbits}-bit GPTQ k-means`,
      { nbits, mode: "kmeans_lut", algorithm: "gptq-kmeans", calibration: statistics() },
    ]),
    [
      "5-bit k-means with conv10 4-bit GPTQ",
      {
        nbits: 5,
        mode: "kmeans_lut",
        layers: { conv10: { nbits: 4, mode: "kmeans_lut", algorithm: "gptq-kmeans" } },
        calibration: statistics(),
      },
    ],
  ];
  for (const [variant, options] of variants.filter(([v]) => listed("uniform")(v))) {
    const compressed = await quantizeWeights(model, { ...options, pool });
    await add(variant, compressed);
    await compressed.close();
  }
  await model.close();
  return { rows: result, sensitivitySeconds };
}

const table = (header: string[], body: string[][]) =>
  [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...body.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");

if (!existsSync(BYTELM)) {
  console.error(`npm run eval needs the evaluation kit at ${SHARED}/eval`);
  process.exit(1);
}
const onlySqueezeNet = process.argv.includes("--squeezenet");
const pool = new WorkerPool(1);
try {
  const lm = onlySqueezeNet ? undefined : await byteLm(pool);
  const images = await squeezeNet(pool);
  writeFileSync(
    onlySqueezeNet ? "dist/bench/quality-squeezenet.json" : "dist/bench/quality.json",
    JSON.stringify({ byteLm: lm, squeezeNet: images }, null, 2),
  );
  if (lm) printByteLm(lm);
  printSqueezeNet(images);
} finally {
  await pool.close();
}

function printByteLm(lm: Awaited<ReturnType<typeof byteLm>>): void {
  console.log(
    `byte LM, perplexity on 64 held-out windows (sensitivity: ${lm.sensitivitySeconds.toFixed(0)} s on ${CALIBRATION_WINDOWS} calibration windows)\n`,
  );
  console.log(
    table(
      ["variant", "bits/weight", "perplexity", "change"],
      lm.rows.map((r) => [
        r.variant,
        r.bitsPerWeight.toFixed(2),
        r.perplexity.toFixed(4),
        `${(r.change * 100).toFixed(2)}%`,
      ]),
    ),
  );
}

function printSqueezeNet(images: Awaited<ReturnType<typeof squeezeNet>>): void {
  console.log(
    `\nSqueezeNet against float16: all 12 photos / the ${12 - CALIBRATION_PHOTOS.length} held out (sensitivity: ${Number.isNaN(images.sensitivitySeconds) ? `from ${flag("table")}` : `${images.sensitivitySeconds.toFixed(0)} s`} on photos ${CALIBRATION_PHOTOS.join(", ")})\n`,
  );
  const both = (f: (s: Scores) => string) => (r: ImageRow) => `${f(r.all)} / ${f(r.heldOut)}`;
  const percent = (x: number) => `${(x * 100).toFixed(1)}%`;
  console.log(
    table(
      ["variant", "bits/weight", "top-1 agreement", "top-5", "mean KL", "SNR dB"],
      images.rows.map((r) => [
        r.variant,
        r.bitsPerWeight.toFixed(2),
        both((s) => percent(s.top1))(r),
        both((s) => percent(s.top5))(r),
        both((s) => s.meanKl.toExponential(2))(r),
        both((s) => s.snrDb.toFixed(1))(r),
      ]),
    ),
  );
}
