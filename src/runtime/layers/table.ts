/**
 * Every neural-network layer type the interpreter runs, each with the compiler that reads its
 * parameters and returns the function that runs it.
 */
import { ACTIVATION_LAYERS } from "./activation.js";
import { ARITHMETIC_LAYERS } from "./arithmetic.js";
import { CONSTANT_LAYERS } from "./constants.js";
import { CONTROL_LAYERS } from "./control.js";
import { CONVOLUTION_LAYERS } from "./convolution.js";
import { DETECTION_LAYERS } from "./detection.js";
import { NORMALIZATION_LAYERS } from "./normalization.js";
import type { LayerCompiler, LayerType } from "./params.js";
import { PRODUCT_LAYERS } from "./products.js";
import { RECURRENT_LAYERS } from "./recurrent.js";
import { REDUCTION_LAYERS } from "./reduction.js";
import { SHAPE_LAYERS } from "./shape.js";
import { SLICING_LAYERS } from "./slicing.js";

/** The layer families, as the README's feature table lists them. */
export const LAYER_FAMILIES = {
  convolution: CONVOLUTION_LAYERS,
  products: PRODUCT_LAYERS,
  activations: ACTIVATION_LAYERS,
  arithmetic: ARITHMETIC_LAYERS,
  normalization: NORMALIZATION_LAYERS,
  reductions: REDUCTION_LAYERS,
  shape: SHAPE_LAYERS,
  slicing: SLICING_LAYERS,
  constants: CONSTANT_LAYERS,
  recurrent: RECURRENT_LAYERS,
  control: CONTROL_LAYERS,
  detection: DETECTION_LAYERS,
} satisfies Record<string, Partial<Record<LayerType, LayerCompiler>>>;

export const LAYERS: Partial<Record<LayerType, LayerCompiler>> = Object.assign(
  {},
  ...Object.values(LAYER_FAMILIES),
);

export function layerCompiler(type: LayerType): LayerCompiler | undefined {
  return LAYERS[type];
}

export function supportedLayerTypes(): LayerType[] {
  return (Object.keys(LAYERS) as LayerType[]).sort();
}
