/**
 * How much each layer of a neural network (.mlmodel) matters: for every top-level layer with
 * weights and every candidate, that layer alone is quantized (by `quantize_weights` with the
 * candidate's bits and mode) and the change in the model's output measured on calibration
 * samples. Each candidate quantizes the whole network once; its layers are compiled one at a
 * time into the reference network (`withLayers`), and each trial resumes at the layer's step
 * from the reference run's blobs, so only the layers after it run again. A data-aware
 * candidate (sensitive or GPTQ k-means) quantizes it twice, once on the statistics of each
 * half of the samples, and each sample is judged by the half it was not fitted on.
 *
 * Candidates are the ML program configs `sensitivity` takes, read as quantize_weights
 * settings: a per-channel linear quantizer is `linear` with its dtype's bits, a per-tensor
 * palettizer `kmeans_lut` (k-means) or `linear_lut` (uniform); or quantize_weights settings
 * themselves (`config_type: quantize_weights`, any nbits). Networks are fused first (as
 * quantize_weights does below 16 bits), so the reference and the trials have the same layers.
 */
import { clone } from "@bufbuild/protobuf";
import { LINEAR_QUANTIZER, linearQuantizerConfig } from "../config/linear-quantizer.js";
import type { OpConfig } from "../config/optimization-config.js";
import { PALETTIZER, palettizerConfig } from "../config/palettizer.js";
import type { OpLinearQuantizerConfig } from "../config/linear-quantizer.js";
import type { OpPalettizerConfig } from "../config/palettizer.js";
import { UnsupportedError } from "../errors.js";
import { ModelSchema } from "../format/gen/Model_pb.js";
import type { NeuralNetworkLayer } from "../format/gen/NeuralNetwork_pb.js";
import type { MLModel } from "../format/model.js";
import type { Tensor } from "../kernels/dtype.js";
import type { Dense } from "../kernels/ops/elementwise.js";
import { validateNeuralNetworks } from "../neural/validate.js";
import { neuralNetworkOf } from "../neural/walk.js";
import { neuralNetworkWeights } from "../neural/weights.js";
import { collectNeuralStatistics } from "../calibrate/neural-statistics.js";
import { fuseBeforeQuantization } from "../passes/neural-fuse.js";
import { quantizeWeights, type LayerQuantization } from "../passes/neural-quantize.js";
import { QUANTIZE_WEIGHTS_CONFIG } from "../passes/neural-quantize-config.js";
import { NeuralNetworkInterpreter, recordBlobs } from "../runtime/neural-network.js";
import { fastGemm } from "../runtime/simd-gemm.js";
import type { SensitivityOptions } from "./sensitivity.js";
import {
  runTrials,
  type Candidate,
  type SensitivityTable,
  type SensitivityWeight,
  type Variant,
} from "./trials.js";

/** Neural networks' default candidates: 8-bit linear per channel, 6/4/3/2-bit k-means tables. */
export function defaultNeuralCandidates(): Candidate[] {
  return [
    { label: "int8/ch", config: linearQuantizerConfig({ dtype: "int8", mode: "linear" }) },
    ...[6, 4, 3, 2].map((nbits) => ({
      label: `kmeans${nbits}`,
      config: palettizerConfig({ nbits }),
    })),
  ];
}

const LINEAR_BITS: Record<string, number> = { int8: 8, uint8: 8, int4: 4, uint4: 4 };

/** A candidate given as quantize_weights settings (any bits, e.g. 6-bit linear per channel). */
export interface QuantizeWeightsCandidate extends OpConfig, LayerQuantization {
  readonly kind: typeof QUANTIZE_WEIGHTS_CONFIG;
}

export function quantizeWeightsCandidate(settings: LayerQuantization): QuantizeWeightsCandidate {
  return { kind: QUANTIZE_WEIGHTS_CONFIG, weightThreshold: 0, ...settings };
}

/** The quantize_weights settings a candidate's config stands for, or why it has none. */
export function neuralSettings(config: OpConfig): LayerQuantization | string {
  if (config.kind === QUANTIZE_WEIGHTS_CONFIG) {
    const { nbits, mode, algorithm } = config as QuantizeWeightsCandidate;
    return { nbits, mode, ...(algorithm && { algorithm }) };
  }
  if (config.kind === LINEAR_QUANTIZER) {
    const c = config as OpLinearQuantizerConfig;
    if (c.granularity !== "per_channel" || c.algorithm) {
      return "neural networks take linear quantization per channel, rounded to nearest";
    }
    const nbits = LINEAR_BITS[c.dtype];
    const symmetric = c.mode === "linear_symmetric" && nbits === 8;
    return { nbits, mode: symmetric ? "linear_symmetric" : "linear" };
  }
  if (config.kind === PALETTIZER) {
    const c = config as OpPalettizerConfig;
    const plain = c.granularity === "per_tensor" && c.clusterDim === 1 && !c.enablePerChannelScale;
    const sensitive = c.algorithm !== undefined && c.mode === "kmeans";
    if (!plain || (c.algorithm && !sensitive) || c.nbits === undefined) {
      return "neural networks take one k-means (plain, sensitive or GPTQ) or uniform table per tensor";
    }
    if (sensitive) return { nbits: c.nbits, mode: "kmeans_lut", algorithm: c.algorithm };
    if (c.mode === "kmeans") return { nbits: c.nbits, mode: "kmeans_lut" };
    if (c.mode === "uniform") return { nbits: c.nbits, mode: "linear_lut" };
    return `neural networks take no ${c.mode} tables`;
  }
  return `neural networks take no ${config.kind}`;
}

interface LayerVariant extends Variant {
  /** The network with the layer compressed: one, or one per fold (see `folds`). */
  networks: NeuralNetworkInterpreter[];
}

/** Bytes and elements of each top-level layer's weights, and its first weight's shape. */
function layerSizes(
  spec: MLModel["spec"],
): Map<string, { bytes: number; elements: number; shape: number[] }> {
  const sizes = new Map<string, { bytes: number; elements: number; shape: number[] }>();
  for (const w of neuralNetworkWeights(spec)) {
    if (w.modelPath.length > 0 || w.enclosingLayers.length > 0) continue;
    const size = sizes.get(w.layer) ?? { bytes: 0, elements: 0, shape: w.shape };
    size.bytes += w.byteSize;
    size.elements += w.elementCount;
    sizes.set(w.layer, size);
  }
  return sizes;
}

/** Measures every top-level layer × candidate of a neural network on `samples`. */
export async function measureNeuralSensitivity(
  model: MLModel,
  samples: readonly Record<string, Tensor>[],
  options: SensitivityOptions = {},
): Promise<SensitivityTable> {
  validateNeuralNetworks(model);
  const candidates = options.candidates ?? defaultNeuralCandidates();
  const spec = clone(ModelSchema, model.spec);
  const network = neuralNetworkOf(spec);
  if (!network) {
    throw new UnsupportedError(
      `sensitivity and recipes run an ML program or a neural network, not a ${model.spec.Type.case ?? "model without one"}`,
    );
  }
  fuseBeforeQuantization(network.layers);
  const fused = model.derive(spec, new Map(model.weightFiles));
  const reference = NeuralNetworkInterpreter.fromSpec(spec, fastGemm(options.pool));
  const sizesBefore = layerSizes(spec);

  // Data-aware candidates are fitted on some samples and judged on the others (two folds: the
  // even-numbered samples are judged with statistics of the odd-numbered ones, and the other way
  // round), so a fit to the very samples that judge it (GPTQ's above all) is not taken as a gain.
  const calibrated = candidates.some((c) => {
    const settings = neuralSettings(c.config);
    return typeof settings !== "string" && settings.algorithm !== undefined;
  });
  const folds = calibrated ? Math.min(2, samples.length) : 1;
  const calibrations = calibrated
    ? Array.from({ length: folds }, (_, fold) =>
        collectNeuralStatistics(
          fused,
          folds === 1 ? samples : samples.filter((_, i) => i % folds !== fold),
          { gram: true },
        ),
      )
    : [];

  const weights = new Map<string, SensitivityWeight>();
  const variants = new Map<string, LayerVariant[]>();
  const skipped: SensitivityTable["skipped"] = [];
  for (const candidate of candidates) {
    const settings = neuralSettings(candidate.config);
    if (typeof settings === "string") {
      for (const name of sizesBefore.keys()) {
        skipped.push({ weight: name, candidate: candidate.label, reason: settings });
      }
      continue;
    }
    const quantizedLayers = new Set<string>();
    // One quantized network per fold for a data-aware candidate, else one for every sample.
    const quantized: MLModel[] = [];
    for (const calibration of settings.algorithm ? calibrations : [undefined]) {
      quantized.push(
        await quantizeWeights(fused, {
          ...settings,
          ...(calibration && { calibration }),
          pool: options.pool,
          workers: 0,
          onField: (event) => {
            if (event.outcome === "quantized") quantizedLayers.add(event.layer);
          },
        }),
      );
    }
    const sizesAfter = layerSizes(quantized[0].spec);
    const layersOf = quantized.map(
      (model) =>
        new Map<string, NeuralNetworkLayer>(
          neuralNetworkOf(model.spec)!.layers.map((l) => [l.name, l]),
        ),
    );
    for (const name of quantizedLayers) {
      const layers = layersOf.map((byName) => byName.get(name));
      const before = sizesBefore.get(name);
      if (layers.some((l) => !l) || !before || reference.stepOf(name) === undefined) {
        skipped.push({
          weight: name,
          candidate: candidate.label,
          reason: "inside a branch or loop: not measured",
        });
        continue;
      }
      if (!weights.has(name)) weights.set(name, { name, value: name, ...before });
      const list = variants.get(name) ?? [];
      list.push({
        candidate,
        networks: layers.map((layer) => reference.withLayers([layer!])),
        bytes: sizesAfter.get(name)?.bytes ?? before.bytes,
      });
      variants.set(name, list);
    }
  }
  const stepOf = (name: string) => reference.stepOf(name) ?? 0;
  const ordered = [...weights.values()].sort((a, b) => stepOf(a.name) - stepOf(b.name));

  const run = (sample: Record<string, Tensor>, output: string) => {
    // Blobs as the reference computed them; a name written twice (loops) rules resuming out.
    const recorded = new Map<string, Dense>();
    let rewritten = false;
    const expected = reference.predict(sample, {
      observe: recordBlobs(recorded, { onRewrite: () => (rewritten = true) }),
    })[output];
    const fold = samples.indexOf(sample) % folds;
    const trial = (weight: SensitivityWeight, variant: LayerVariant) =>
      variant.networks[variant.networks.length > 1 ? fold : 0].predict(sample, {
        resume: { step: rewritten ? 0 : stepOf(weight.name), values: recorded },
      })[output];
    return { expected, trial };
  };
  return runTrials(
    { reference, run, weights: ordered, variants, candidates, skipped },
    samples,
    options.onProgress,
  );
}
