/** coremltools' `OpActivationLinearQuantizerConfig`: 8-bit activations from calibration data. */
import type { OpConfig } from "./optimization-config.js";
import { QUANTIZATION_MODES, type QuantizationMode } from "./linear-quantizer.js";
import { FieldReader, registerOpConfigKind } from "./parse.js";

export const ACTIVATION_QUANTIZER = "OpActivationLinearQuantizerConfig";
export const ACTIVATION_DTYPES = ["int8", "uint8"] as const;

export interface OpActivationLinearQuantizerConfig extends OpConfig {
  readonly kind: typeof ACTIVATION_QUANTIZER;
  readonly mode: QuantizationMode;
  readonly dtype: (typeof ACTIVATION_DTYPES)[number];
  readonly weightThreshold: number;
}

function parseFields(fields: FieldReader): OpActivationLinearQuantizerConfig {
  return {
    kind: ACTIVATION_QUANTIZER,
    mode: fields.oneOf("mode", QUANTIZATION_MODES, "linear_symmetric"),
    dtype: fields.oneOf("dtype", ACTIVATION_DTYPES, "int8"),
    weightThreshold: fields.integer("weight_threshold", 2048),
  };
}

registerOpConfigKind<OpActivationLinearQuantizerConfig>({
  kind: ACTIVATION_QUANTIZER,
  parse: parseFields,
});

/** A validated activation quantizer config; omitted fields take coremltools' defaults. */
export function activationQuantizerConfig(
  options: Partial<Omit<OpActivationLinearQuantizerConfig, "kind">> = {},
  path = "config",
): OpActivationLinearQuantizerConfig {
  const reader = new FieldReader(
    Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    path,
  );
  const config = parseFields(reader);
  reader.finish();
  return config;
}
