/**
 * The app's worker: holds the open model and its compressed version, and runs the library on
 * them (compress, compare) for the page. K-means and other large kernels go to one pool of
 * Web Workers kept for the worker's life.
 */
import {
  advancedLayerSelector,
  compareModels,
  compressInSteps,
  CoreMLOptimizeError,
  inspectModel,
  loadModelFromFiles,
  loadRunner,
  modelToFiles,
  neuralNetworkWeights,
  neuralWeightName,
  parseStepsText,
  quantizeWeights,
  randomSamples,
  skipLayersSelector,
  WebWorkerPool,
  type LayerSelector,
  type MLModel,
  type NeuralQuantizationMode,
  type Target,
} from "../src/browser.js";
import { describeConfig } from "./describe.js";
import type {
  CompressReport,
  FileList,
  Job,
  NeuralSettings,
  Reply,
  Request,
  WeightRow,
} from "./protocol.js";

interface Scope {
  addEventListener(type: "message", listener: (event: { data: Request }) => void): void;
  postMessage(message: Reply): void;
}
const scope = globalThis as unknown as Scope;

const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
  ?.hardwareConcurrency;
const pool = WebWorkerPool.available() ? new WebWorkerPool(Math.max(1, cores ?? 1)) : undefined;

let original: MLModel | undefined;
let originalSize = 0;
let compressed: MLModel | undefined;

const totalBytes = (files: Iterable<Uint8Array>) => {
  let sum = 0;
  for (const bytes of files) sum += bytes.length;
  return sum;
};

async function open(files: FileList): Promise<Reply> {
  await compressed?.close();
  await original?.close();
  compressed = undefined;
  original = await loadModelFromFiles(new Map(files));
  originalSize = totalBytes(files.map(([, bytes]) => bytes));
  return { type: "opened", summary: await inspectModel(original), size: originalSize };
}

function progress(label: string, done: number, total: number, name: string): void {
  scope.postMessage({ type: "progress", label, done, total, name });
}

async function compressSteps(
  model: MLModel,
  job: Extract<Job, { kind: "steps" }>,
): Promise<{ model: MLModel; weights: WeightRow[] }> {
  const steps = await parseStepsText(job.configText, job.configName);
  let label = "";
  const result = await compressInSteps(model, steps, {
    raiseTarget: job.target ? (job.target as Target) : undefined,
    pool,
    onStep: (index, pass) => {
      label = steps.length > 1 ? `step ${index + 1}/${steps.length}: ${pass}` : pass;
      progress(label, 0, 1, "");
    },
    onProgress: ({ done, total, name }) => progress(label, done, total, name),
  });
  const weights = result.steps.flatMap(({ pass, weights }) =>
    weights.map((w) => ({
      pass,
      name: w.name,
      type: `${w.dtype}[${w.shape.join(",")}]`,
      config: describeConfig(w.config),
      bytesBefore: w.bytesBefore,
      bytesAfter: w.bytesAfter,
      snrDb: w.snrDb,
    })),
  );
  return { model: result.model, weights };
}

/** The layer selector the CLI's quantize-weights flags describe. */
function neuralSelector(settings: NeuralSettings): LayerSelector | undefined {
  const { skipLayerTypes, minConvChannels, minWeightCount, skipLayers } = settings;
  let selector =
    skipLayerTypes.length > 0 || minConvChannels !== undefined || minWeightCount !== undefined
      ? advancedLayerSelector({
          skipLayerTypes: skipLayerTypes.length > 0 ? skipLayerTypes : undefined,
          minimumConvKernelChannels: minConvChannels,
          minimumConvWeightCount: minWeightCount,
        })
      : undefined;
  if (skipLayers.length > 0) selector = skipLayersSelector(skipLayers, selector);
  return selector;
}

async function compressNeural(
  model: MLModel,
  settings: NeuralSettings,
): Promise<{ model: MLModel; weights: WeightRow[] }> {
  const label = "quantize_weights";
  const result = await quantizeWeights(model, {
    nbits: settings.nbits,
    mode: settings.mode as NeuralQuantizationMode,
    selector: neuralSelector(settings),
    pool,
    onProgress: ({ done, total, name }) => progress(label, done, total, name),
  });
  const before = new Map(neuralNetworkWeights(model.spec).map((w) => [neuralWeightName(w), w]));
  const weights = neuralNetworkWeights(result.spec).flatMap((w): WeightRow[] => {
    const input = before.get(neuralWeightName(w));
    if (!input || input.storage.kind === w.storage.kind) return [];
    return [
      {
        pass: label,
        name: neuralWeightName(w),
        type: `${w.layerType} ×${w.elementCount}`,
        config:
          w.storage.kind === "quantized"
            ? `${w.storage.quantization} ${w.storage.nbits}-bit`
            : w.storage.kind,
        bytesBefore: input.byteSize,
        bytesAfter: w.byteSize,
      },
    ];
  });
  return { model: result, weights };
}

async function compress(job: Job): Promise<Reply> {
  if (!original) throw new CoreMLOptimizeError("open a model first");
  await compressed?.close();
  compressed = undefined;
  const started = performance.now();
  const { model, weights } =
    job.kind === "steps"
      ? await compressSteps(original, job)
      : await compressNeural(original, job.settings);
  compressed = model;
  const files = [...(await modelToFiles(model))];
  const report: CompressReport = {
    weights,
    sizeBefore: originalSize,
    sizeAfter: totalBytes(files.map(([, bytes]) => bytes)),
    seconds: (performance.now() - started) / 1000,
  };
  // Copied, not moved: the files may share buffers with the model kept here.
  return { type: "compressed", report, files };
}

/** The CLI's `compare` on `count` seeded random samples. */
async function compare(count: number): Promise<Reply> {
  if (!original || !compressed) throw new CoreMLOptimizeError("compress the model first");
  const { inputs } = await loadRunner(original);
  const outputs = await compareModels(original, compressed, randomSamples(inputs, count, 0));
  return { type: "compared", samples: count, outputs };
}

async function answer(data: Request): Promise<void> {
  try {
    if (data.type === "open") scope.postMessage(await open(data.files));
    else if (data.type === "compare") scope.postMessage(await compare(data.samples));
    else scope.postMessage(await compress(data.job));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    scope.postMessage({ type: "failed", request: data.type, message });
  }
}

// One request at a time, in the order they come: a compress sent right after an open finds
// the model open.
let queue = Promise.resolve();
scope.addEventListener("message", ({ data }) => {
  queue = queue.then(() => answer(data));
});
