/**
 * The layer fusions coremltools applies to a network before quantizing it below 16 bits: a
 * convolution or inner product absorbs a following batchnorm (convolution only), scale or bias
 * layer, and a batchnorm absorbs a following scale layer, when the first layer feeds only the
 * second and the second reads only the first. Fusing first means the quantized weights already
 * include those factors. Fused values are stored as float32, as the protobuf field holds them.
 *
 * Only float32 weights are fused; layers holding float16 or quantized weights are left as they
 * are.
 */
import { create } from "@bufbuild/protobuf";
import {
  WeightParamsSchema,
  type BatchnormLayerParams,
  type NeuralNetworkLayer,
  type ScaleLayerParams,
  type WeightParams,
} from "../format/gen/NeuralNetwork_pb.js";

/** Fuses layers of `layers` in place, repeating until no pattern is left. */
export function fuseBeforeQuantization(layers: NeuralNetworkLayer[]): void {
  while (fuseOnce(layers)) {
    // Each fusion deletes a layer, so this ends.
  }
}

function fuseOnce(layers: NeuralNetworkLayer[]): boolean {
  const { consumers, producers } = connections(layers);
  /** The single layer `index` feeds, when that layer reads from nothing else. */
  const soleSuccessor = (index: number): number | undefined => {
    if (consumers[index].length !== 1) return undefined;
    const next = consumers[index][0];
    return producers[next].length === 1 ? next : undefined;
  };
  const kindAt = (i: number) => layers[i].layer.case;
  const isFusableBatchnorm = (i: number) => {
    const kind = layers[i].layer;
    return kind.case === "batchnorm" && !kind.value.instanceNormalization;
  };
  const passes: [string, (first: number, second: number) => boolean][] = [
    ["convolution", (a, b) => isFusableBatchnorm(b) && fuseBatchnorm(layers, a, b)],
    ["convolution", (a, b) => kindAt(b) === "scale" && fuseScale(layers, a, b)],
    ["convolution", (a, b) => kindAt(b) === "bias" && fuseBias(layers, a, b)],
    ["innerProduct", (a, b) => kindAt(b) === "scale" && fuseScale(layers, a, b)],
    ["innerProduct", (a, b) => kindAt(b) === "bias" && fuseBias(layers, a, b)],
    ["batchnorm", (a, b) => kindAt(b) === "scale" && fuseScaleIntoBatchnorm(layers, a, b)],
  ];
  // coremltools tries, per first-layer kind, each first layer against the fusions in turn.
  const order: string[] = ["convolution", "innerProduct", "batchnorm"];
  for (const firstKind of order) {
    for (let a = 0; a < layers.length; a++) {
      if (kindAt(a) !== firstKind || (firstKind === "batchnorm" && !isFusableBatchnorm(a)))
        continue;
      const b = soleSuccessor(a);
      if (b === undefined) continue;
      for (const [kind, fuse] of passes) {
        if (kind === firstKind && fuse(a, b)) return true;
      }
    }
  }
  return false;
}

/** For each layer, the layers reading one of its outputs and the layers producing one of its inputs. */
function connections(layers: NeuralNetworkLayer[]) {
  const producersOf = new Map<string, number[]>();
  layers.forEach((layer, a) => {
    for (const name of new Set(layer.output)) {
      const list = producersOf.get(name);
      if (list) list.push(a);
      else producersOf.set(name, [a]);
    }
  });
  const consumerSets = layers.map(() => new Set<number>());
  const producerSets = layers.map(() => new Set<number>());
  layers.forEach((layer, b) => {
    for (const name of layer.input) {
      for (const a of producersOf.get(name) ?? []) {
        consumerSets[a].add(b);
        producerSets[b].add(a);
      }
    }
  });
  // Ascending order, as a scan over all pairs would list them.
  const sorted = (sets: Set<number>[]) => sets.map((set) => [...set].sort((x, y) => x - y));
  return { consumers: sorted(consumerSets), producers: sorted(producerSets) };
}

const floats = (params: WeightParams | undefined): number[] | undefined =>
  params && params.floatValue.length > 0 ? params.floatValue : undefined;

/** Per-channel values: one per channel, or one for all (empty: nothing to apply). */
const fitsChannels = (values: number[], channels: number): boolean =>
  values.length <= 1 || values.length === channels;

const float32 = (values: number[]): number[] => values.map(Math.fround);

/** The second layer disappears; the first takes over its outputs. */
function absorb(layers: NeuralNetworkLayer[], first: number, second: number): void {
  layers[first].output = [...layers[second].output];
  layers.splice(second, 1);
}

function weightedLayer(layer: NeuralNetworkLayer) {
  const kind = layer.layer;
  return kind.case === "convolution" || kind.case === "innerProduct" ? kind.value : undefined;
}

function fuseScale(layers: NeuralNetworkLayer[], first: number, second: number): boolean {
  const target = weightedLayer(layers[first]);
  const scale = layers[second].layer.value as ScaleLayerParams;
  const weights = floats(target?.weights);
  const factors = floats(scale.scale);
  const scaleBias = scale.hasBias ? floats(scale.bias) : [];
  const ownBias = target?.hasBias ? floats(target.bias) : [];
  if (!target || !weights || !factors || !scaleBias || !ownBias) return false;
  const channels = Number(target.outputChannels);
  if (!fitsChannels(factors, channels) || !fitsChannels(scaleBias, channels)) return false;
  const perChannel = weights.length / channels;
  const factorOf = (c: number) => (factors.length === 1 ? factors[0] : factors[c]);
  target.weights!.floatValue = float32(
    weights.map((w, i) => w * factorOf(Math.floor(i / perChannel))),
  );
  if (scale.hasBias) {
    target.bias = target.bias ?? create(WeightParamsSchema);
    target.bias.floatValue = target.hasBias
      ? float32(ownBias.map((b, c) => factorOf(c) * b + scaleBias[scaleBias.length === 1 ? 0 : c]))
      : [...scaleBias];
    target.hasBias = true;
  }
  absorb(layers, first, second);
  return true;
}

function fuseBias(layers: NeuralNetworkLayer[], first: number, second: number): boolean {
  const target = weightedLayer(layers[first]);
  const addend =
    layers[second].layer.case === "bias" ? floats(layers[second].layer.value.bias) : undefined;
  const ownBias = target?.hasBias ? floats(target.bias) : [];
  if (!target || !addend || !ownBias) return false;
  if (!fitsChannels(addend, Number(target.outputChannels))) return false;
  target.bias = target.bias ?? create(WeightParamsSchema);
  target.bias.floatValue = target.hasBias
    ? float32(ownBias.map((b, c) => b + addend[addend.length === 1 ? 0 : c]))
    : [...addend];
  target.hasBias = true;
  absorb(layers, first, second);
  return true;
}

function fuseBatchnorm(layers: NeuralNetworkLayer[], first: number, second: number): boolean {
  const conv = layers[first].layer.case === "convolution" ? layers[first].layer.value : undefined;
  const bn = layers[second].layer.value as BatchnormLayerParams;
  const weights = floats(conv?.weights);
  const [gamma, beta, mean, variance] = [bn.gamma, bn.beta, bn.mean, bn.variance].map(floats);
  const ownBias = conv?.hasBias ? floats(conv.bias) : [];
  if (!conv || !weights || !gamma || !beta || !mean || !variance || !ownBias) return false;
  const channels = Number(conv.outputChannels);
  if ([gamma, beta, mean, variance].some((v) => v.length !== channels)) return false;
  const perChannel = weights.length / channels;
  const factor = gamma.map((g, c) => g / Math.sqrt(variance[c] + bn.epsilon));
  conv.weights!.floatValue = float32(weights.map((w, i) => factor[Math.floor(i / perChannel)] * w));
  const bias = Array.from({ length: channels }, (_, c) => (conv.hasBias ? ownBias[c] : 0));
  conv.bias = conv.bias ?? create(WeightParamsSchema);
  conv.bias.floatValue = float32(bias.map((b, c) => factor[c] * b - factor[c] * mean[c] + beta[c]));
  conv.hasBias = true;
  absorb(layers, first, second);
  return true;
}

function fuseScaleIntoBatchnorm(
  layers: NeuralNetworkLayer[],
  first: number,
  second: number,
): boolean {
  const bn = layers[first].layer.value as BatchnormLayerParams;
  const scale = layers[second].layer.value as ScaleLayerParams;
  const gamma = floats(bn.gamma);
  const beta = floats(bn.beta);
  const factors = floats(scale.scale);
  const scaleBias = scale.hasBias ? floats(scale.bias) : [];
  if (!gamma || !beta || !factors || !scaleBias) return false;
  if (!fitsChannels(factors, gamma.length) || !fitsChannels(scaleBias, gamma.length)) return false;
  const at = (values: number[], c: number) => (values.length === 1 ? values[0] : values[c]);
  bn.gamma!.floatValue = float32(gamma.map((g, c) => g * at(factors, c)));
  bn.beta!.floatValue = float32(
    beta.map((b, c) => b * at(factors, c) + (scale.hasBias ? at(scaleBias, c) : 0)),
  );
  absorb(layers, first, second);
  return true;
}
