/** `OpPalettizerConfig`: how to palettize weights (coremltools' fields, defaults and checks). */
import type { OpConfig } from "./optimization-config.js";
import { FieldReader, registerOpConfigKind } from "./parse.js";

export const PALETTIZER = "OpPalettizerConfig";
export const PALETTIZATION_MODES = ["kmeans", "uniform", "unique", "custom"] as const;
export const PALETTIZATION_GRANULARITIES = ["per_tensor", "per_grouped_channel"] as const;
export const PALETTIZATION_NBITS = [1, 2, 3, 4, 6, 8] as const;
/**
 * "sensitive-kmeans": k-means weighting each element by the activation energy of its input;
 * "gptq-kmeans": those tables, with indices chosen by GPTQ's error feedback (both need
 * calibration samples, calibrate/); absent means plain k-means.
 */
export const PALETTIZATION_ALGORITHMS = ["kmeans", "sensitive-kmeans", "gptq-kmeans"] as const;

export type PalettizationMode = (typeof PALETTIZATION_MODES)[number];
export type PalettizationGranularity = (typeof PALETTIZATION_GRANULARITIES)[number];

/**
 * A user's palettization of one group of weights (custom mode): `lut` holds 2^nbits entries of
 * clusterDim values each, `indices` one entry index per point, in the order of `weights`.
 */
export type LutFunction = (weights: Float64Array) => {
  lut: ArrayLike<number>;
  indices: ArrayLike<number>;
};

export interface OpPalettizerConfig extends OpConfig {
  readonly kind: typeof PALETTIZER;
  readonly mode: PalettizationMode;
  /** Bits per index; required for kmeans and uniform, refused for unique and custom. */
  readonly nbits?: number;
  readonly lutFunction?: LutFunction;
  readonly granularity: PalettizationGranularity;
  /** per_grouped_channel: channels sharing one table. */
  readonly groupSize: number;
  /** per_grouped_channel: the axis of the channels (default: the consumer's output axis). */
  readonly channelAxis?: number;
  /** Length of the vectors a table entry holds (vector palettization when > 1). */
  readonly clusterDim: number;
  /** Normalize by per-channel maxima before clustering, rescale at load time. */
  readonly enablePerChannelScale: boolean;
  /** Worker threads for k-means (default: every core). */
  readonly numKmeansWorkers?: number;
  readonly weightThreshold: number;
  readonly algorithm?: "sensitive-kmeans" | "gptq-kmeans";
}

export type PalettizerOptions = Partial<Omit<OpPalettizerConfig, "kind">>;

function parseFields(fields: FieldReader, lutFunction?: LutFunction): OpPalettizerConfig {
  const mode = fields.oneOf("mode", PALETTIZATION_MODES, "kmeans");
  const rawNbits = fields.raw("nbits");
  let nbits: number | undefined;
  if (rawNbits !== undefined && rawNbits !== null) {
    if (mode === "unique" || mode === "custom") {
      fields.fail("nbits", `must not be given in ${mode} mode (the table size follows the data)`);
    }
    if (!PALETTIZATION_NBITS.includes(rawNbits as 1)) {
      fields.fail(
        "nbits",
        `expected one of ${PALETTIZATION_NBITS.join(", ")}, got ${JSON.stringify(rawNbits)}`,
      );
    }
    nbits = rawNbits as number;
  } else if (mode === "kmeans" || mode === "uniform") {
    fields.fail("nbits", `is required in ${mode} mode`);
  }
  if (mode === "custom" && !lutFunction) {
    fields.fail("lut_function", "custom mode needs a lut_function");
  }
  if (mode !== "custom" && lutFunction) {
    fields.fail("lut_function", `is only used in custom mode, not ${mode}`);
  }
  const clusterDim = fields.integer("cluster_dim", 1, 1);
  if (clusterDim > 1 && mode === "uniform") {
    fields.fail(
      "cluster_dim",
      "vector palettization (cluster_dim > 1) does not support uniform mode",
    );
  }
  const algorithm = fields.oneOf("algorithm", PALETTIZATION_ALGORITHMS, "kmeans");
  if (algorithm !== "kmeans" && (mode !== "kmeans" || clusterDim > 1)) {
    fields.fail("algorithm", `${algorithm} needs mode kmeans and cluster_dim 1`);
  }
  const rawAxis = fields.raw("channel_axis");
  if (rawAxis !== undefined && rawAxis !== null && !Number.isInteger(rawAxis)) {
    fields.fail("channel_axis", `expected an integer, got ${JSON.stringify(rawAxis)}`);
  }
  const rawWorkers = fields.raw("num_kmeans_workers");
  if (rawWorkers !== undefined && (!Number.isInteger(rawWorkers) || (rawWorkers as number) < 1)) {
    fields.fail(
      "num_kmeans_workers",
      `expected an integer >= 1, got ${JSON.stringify(rawWorkers)}`,
    );
  }
  if (algorithm === "gptq-kmeans" && fields.raw("enable_per_channel_scale") === true) {
    fields.fail("enable_per_channel_scale", "gptq-kmeans does not scale channels");
  }
  const config: OpPalettizerConfig = {
    kind: PALETTIZER,
    mode,
    granularity: fields.oneOf("granularity", PALETTIZATION_GRANULARITIES, "per_tensor"),
    groupSize: fields.integer("group_size", 32, 1),
    clusterDim,
    enablePerChannelScale: fields.boolean("enable_per_channel_scale", false),
    weightThreshold: fields.integer("weight_threshold", 2048),
  };
  return {
    ...config,
    ...(nbits !== undefined && { nbits }),
    ...(algorithm !== "kmeans" && { algorithm }),
    ...(lutFunction && { lutFunction }),
    ...(rawAxis !== undefined && rawAxis !== null && { channelAxis: rawAxis as number }),
    ...(rawWorkers !== undefined && { numKmeansWorkers: rawWorkers as number }),
  };
}

/** A validated palettizer config; omitted fields take coremltools' defaults. */
export function palettizerConfig(
  options: PalettizerOptions = {},
  path = "config",
): OpPalettizerConfig {
  const { lutFunction, ...rest } = options;
  const dict: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) dict[key] = value;
  }
  const reader = new FieldReader(dict, path);
  const config = parseFields(reader, lutFunction);
  reader.finish();
  return config;
}

registerOpConfigKind<OpPalettizerConfig>({
  kind: PALETTIZER,
  parse: (fields) => parseFields(fields),
});
