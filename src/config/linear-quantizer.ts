/** `OpLinearQuantizerConfig`: how to quantize weights linearly (coremltools' fields and defaults). */
import type { OpConfig } from "./optimization-config.js";
import { FieldReader, registerOpConfigKind } from "./parse.js";

export const LINEAR_QUANTIZER = "OpLinearQuantizerConfig";
export const QUANTIZATION_MODES = ["linear_symmetric", "linear"] as const;
export const QUANTIZATION_DTYPES = ["int8", "uint8", "int4", "uint4"] as const;
export const QUANTIZATION_GRANULARITIES = ["per_tensor", "per_channel", "per_block"] as const;
/** Round to nearest (coremltools' linear_quantize_weights), or GPTQ on calibration data. */
export const QUANTIZATION_ALGORITHMS = ["rtn", "gptq"] as const;

export type QuantizationMode = (typeof QUANTIZATION_MODES)[number];
export type QuantizationDtype = (typeof QUANTIZATION_DTYPES)[number];
export type QuantizationGranularity = (typeof QUANTIZATION_GRANULARITIES)[number];

export interface OpLinearQuantizerConfig extends OpConfig {
  readonly kind: typeof LINEAR_QUANTIZER;
  readonly mode: QuantizationMode;
  readonly dtype: QuantizationDtype;
  readonly granularity: QuantizationGranularity;
  /**
   * per_block only: a block size along the weight's input axis, or one entry per axis
   * (0 = the whole axis is one block).
   */
  readonly blockSize: number | readonly number[];
  readonly weightThreshold: number;
  /** "gptq" needs calibration samples (calibrate/); absent means round to nearest. */
  readonly algorithm?: "gptq";
  /** GPTQ: added to the Hessian's diagonal, as a fraction of its mean (default 0.01). */
  readonly hessianDampening?: number;
  /** GPTQ: quantize the inputs of largest activation energy first (default false). */
  readonly useActivationOrder?: boolean;
}

export type LinearQuantizerOptions = Partial<Omit<OpLinearQuantizerConfig, "kind">>;

const DEFAULTS = {
  mode: "linear_symmetric",
  dtype: "int8",
  granularity: "per_channel",
  blockSize: 32,
  weightThreshold: 2048,
} as const;

function parseFields(fields: FieldReader): OpLinearQuantizerConfig {
  const granularity = fields.oneOf("granularity", QUANTIZATION_GRANULARITIES, DEFAULTS.granularity);
  const blockSize = fields.integerOrList("block_size", DEFAULTS.blockSize);
  if (granularity === "per_block" && blockSize === 0) {
    fields.fail("block_size", "must be at least 1 with per_block granularity");
  }
  const algorithm = fields.oneOf("algorithm", QUANTIZATION_ALGORITHMS, "rtn");
  const gptq = algorithm === "gptq" && {
    algorithm,
    hessianDampening: fields.number("hessian_dampening", 0.01, { min: 0 }),
    useActivationOrder: fields.boolean("use_activation_order", false),
  };
  if (!gptq) {
    for (const key of ["hessian_dampening", "use_activation_order"]) {
      if (fields.raw(key) !== undefined) fields.fail(key, "is a GPTQ setting (algorithm: gptq)");
    }
  }
  return {
    kind: LINEAR_QUANTIZER,
    mode: fields.oneOf("mode", QUANTIZATION_MODES, DEFAULTS.mode),
    dtype: fields.oneOf("dtype", QUANTIZATION_DTYPES, DEFAULTS.dtype),
    granularity,
    blockSize,
    weightThreshold: fields.integer("weight_threshold", DEFAULTS.weightThreshold),
    ...gptq,
  };
}

/** A validated linear quantizer config; omitted fields take coremltools' defaults. */
export function linearQuantizerConfig(
  options: LinearQuantizerOptions = {},
  path = "config",
): OpLinearQuantizerConfig {
  const dict: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) dict[key] = value;
  }
  const reader = new FieldReader(dict, path);
  const config = parseFields(reader);
  reader.finish();
  return config;
}

registerOpConfigKind<OpLinearQuantizerConfig>({
  kind: LINEAR_QUANTIZER,
  parse: parseFields,
});

/** Bits and signedness of each quantized dtype. */
export const DTYPE_BITS: Readonly<Record<QuantizationDtype, { bits: number; signed: boolean }>> = {
  int8: { bits: 8, signed: true },
  uint8: { bits: 8, signed: false },
  int4: { bits: 4, signed: true },
  uint4: { bits: 4, signed: false },
};
