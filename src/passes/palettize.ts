/**
 * `palettize_weights`: each weight becomes a look-up table and per-element indices.
 *
 * iOS16/17 programs get the iOS16 `constexpr_lut_to_dense` (one table, indices packed into
 * bytes, `shape`), which can only express per-tensor scalar tables. iOS18+ programs get the
 * iOS18 op (sub-byte `uintN` indices shaped like the weight, a table of rank + 2, `vector_axis`
 * for vector tables). With per-channel scales the table is multiplied by the scales through a
 * `constexpr_blockwise_shift_scale` feeding the table input, the order coremltools settles on.
 */
import { ConfigError, UnsupportedError } from "../errors.js";
import type { Operation, Value } from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/model.js";
import { allConfigs, type OptimizationConfig } from "../config/optimization-config.js";
import { PALETTIZER, type OpPalettizerConfig } from "../config/palettizer.js";
import { elementCount, type Tensor } from "../kernels/dtype.js";
import { packSubByte } from "../kernels/bitpack.js";
import {
  broadcastTo,
  gatherGroups,
  groupLayout,
  lutShape,
  perChannelScale,
  scatterIndices,
  squaredScales,
  type GroupLayout,
} from "../kernels/palettize/groups.js";
import {
  accumulatePaletteError,
  maxDistinctPerGroup,
  nbitsForDistinct,
  palettizeGroups,
  inGroupOrder,
  IOS16_PALETTE_NBITS,
  PALETTE_NBITS,
  rounding,
  type GroupsInput,
  type GroupsPalette,
  type ValueType,
} from "../kernels/palettize/modes.js";
import {
  doubleToHalf,
  halfRangeLoss,
  halfToFloat,
  hasHalfRangeLoss,
  roundToHalf,
} from "../kernels/fp16.js";
import { snrDb } from "../kernels/snr.js";
import { numericValues } from "../kernels/values.js";
import type { TaskPool } from "../parallel/task-pool.js";
import { makeOperation } from "../program/ops.js";
import { supports, requireTarget } from "../program/targets.js";
import {
  compressWeights,
  type CompressionOptions,
  type CompressionResult,
  type WeightCandidate,
  type WeightCompressor,
  DISAGREEING_CONSUMERS,
} from "./driver.js";
import { keptValues, SPARSE_DATA, sparseJointOps } from "./joint.js";
import { elementImportance, type Calibration, type InputStatistics } from "./calibration.js";
import { gptqPaletteIndices, type PaletteTable } from "./gptq.js";
import {
  dampedImportance,
  DEFAULT_IMPORTANCE_EXPONENT,
  IMPORTANCE_EXPONENTS,
  outputError,
} from "./sensitive-kmeans.js";

/**
 * Weights smaller than this are clustered on the calling thread (a worker round trip costs more);
 * vector k-means restarts cost milliseconds on a few hundred points, so its weights inline only
 * below VECTOR_INLINE_ELEMENTS.
 */
const INLINE_ELEMENTS = 1 << 15;
const VECTOR_INLINE_ELEMENTS = 1 << 8;
/** coremltools clusters fp16 groups at least this large exactly (kmeans1d), others with scikit-learn. */
const KMEANS1D_MINIMUM = 10_000;

export type PalettizeOptions = CompressionOptions;

/** A palettized weight as the iOS18 op sees it (before dtype conversion). */
interface Palette {
  layout: GroupLayout;
  nbits: number;
  lut: Float64Array;
  indices: Uint8Array;
  /** Whether `indices` are already packed as stored (nbits each, LSB first). */
  packed: boolean;
}

/** coremltools' `palettize_weights`: every configured weight becomes a table and indices. */
export function palettizeWeights(
  model: MLModel,
  config: OptimizationConfig<OpPalettizerConfig>,
  options: PalettizeOptions = {},
): Promise<CompressionResult> {
  return compressWeights(model, config, palettizer, options);
}

export const palettizer: WeightCompressor<OpPalettizerConfig> = {
  passName: "palettize_weights",
  configKinds: [PALETTIZER],
  jointInputs: { constexpr_sparse_to_dense: SPARSE_DATA },
  workersFor: (config) =>
    allConfigs(config).find((c) => c.kind === PALETTIZER && c.numKmeansWorkers !== undefined)
      ?.numKmeansWorkers,
  async compress(weight, config, { pool, calibration }) {
    checkTarget(weight, config);
    if (weight.joint) checkJoint(weight, config);
    const sensitivity = sensitivityOf(weight, config, calibration);
    const errorFeedback = config.algorithm === "gptq-kmeans" && sensitivity.statistics;
    const palette: (PaletteResult & { exponent?: number }) | { skipped: string } =
      config.algorithm === "sensitive-kmeans"
        ? await sensitivePalette(weight, config, pool, sensitivity)
        : await palettize(weight, config, pool, sensitivity.importance, !errorFeedback);
    if ("skipped" in palette) return palette;
    let fallback = sensitivity.fallback && `plain k-means: ${sensitivity.fallback}`;
    if (errorFeedback) {
      const reason = gptqIndices(weight, palette.palette, errorFeedback);
      if (reason) fallback = `nearest-entry indices: ${reason.fallback}`;
    }
    const ops = weight.joint
      ? sparseOps(weight, palette.palette)
      : buildOps(weight, palette.palette, palette.scale);
    // fp16 weights get fp16 tables (and per-channel scales), rounded from these values.
    const loss =
      weight.tensor.dtype === "fp16"
        ? halfRangeLoss([...palette.palette.lut, ...(palette.scale?.data ?? [])])
        : undefined;
    return {
      ops,
      snrDb: palette.snrDb,
      ...(loss && hasHalfRangeLoss(loss) && { float16Loss: loss }),
      ...(fallback && { fallback }),
      ...(palette.exponent !== undefined && { importanceExponent: palette.exponent }),
    };
  },
};

/**
 * Sensitive k-means: with the weight's Gram matrix, the tables of the importance exponent
 * whose layer-output error is least (see sensitive-kmeans.ts); without it, fully weighted.
 */
async function sensitivePalette(
  weight: WeightCandidate,
  config: OpPalettizerConfig,
  pool: TaskPool | undefined,
  { importance, statistics }: { importance?: Float64Array; statistics?: InputStatistics },
): Promise<(PaletteResult & { exponent?: number }) | { skipped: string }> {
  const exponent = DEFAULT_IMPORTANCE_EXPONENT;
  if (!importance || !statistics?.gram || config.clusterDim > 1) {
    const palette = await palettize(weight, config, pool, importance);
    return importance && !("skipped" in palette) ? { ...palette, exponent } : palette;
  }
  const original = numericValues(weight.tensor);
  let best: { palette: PaletteResult; error: number; exponent: number } | undefined;
  for (const candidate of IMPORTANCE_EXPONENTS) {
    // Every candidate reads the weight's buffer: none may move it to a worker.
    const damped = dampedImportance(importance, candidate);
    const palette = await palettize(weight, config, pool, damped, false, false);
    if ("skipped" in palette) return palette;
    const decoded = decodePalette(weight, palette.palette, palette.scale);
    const error = outputError(weight.tensor.shape, original, decoded, statistics) ?? Infinity;
    if (!best || error < best.error) best = { palette, error, exponent: candidate };
  }
  return { ...best!.palette, exponent: best!.exponent };
}

/** A scalar palette's values (indices unpacked), in the weight's element order. */
function decodePalette(
  weight: WeightCandidate,
  palette: Palette,
  scale: { data: Float64Array; shape: number[] } | undefined,
): Float64Array {
  const entries = 1 << palette.nbits;
  const groupOf = groupOfElements(palette.layout, palette.indices.length);
  const round = rounding(valueTypeOf(weight.tensor));
  const scales = scale && broadcastTo(scale.data, scale.shape, weight.tensor.shape);
  return Float64Array.from(
    palette.indices,
    (index, i) => round(palette.lut[groupOf[i] * entries + index]) * (scales ? scales[i] : 1),
  );
}

/** The group of each element (gathered offsets list the elements group by group). */
function groupOfElements(layout: GroupLayout, count: number): Int32Array {
  const offsets = gatherGroups(
    layout,
    Float64Array.from({ length: count }, (_, i) => i),
  );
  const groupLength = count / layout.groupCount;
  const groupOf = new Int32Array(count);
  offsets.forEach((offset, j) => (groupOf[offset] = Math.floor(j / groupLength)));
  return groupOf;
}

/**
 * Sensitive k-means: each element's importance (its input's activation energy), or why the
 * weight is clustered plainly.
 */
function sensitivityOf(
  weight: WeightCandidate,
  config: OpPalettizerConfig,
  calibration: Calibration | undefined,
): { importance?: Float64Array; statistics?: InputStatistics; fallback?: string } {
  if (config.algorithm === undefined) return {};
  if (!calibration) {
    throw new ConfigError(
      `weight ${weight.name}: algorithm ${config.algorithm} needs calibration samples (compressWithCalibration, --inputs or --samples)`,
    );
  }
  if (weight.joint)
    return { fallback: "a pruned weight's kept values have no inputs of their own" };
  const statistics = calibration.statistics(weight.functionName, weight.name);
  if (!statistics) return { fallback: "no calibration statistics for its consumers" };
  const importance = elementImportance(weight.tensor, statistics);
  return importance
    ? { importance, statistics }
    : { fallback: "its consumers do not use it as one matrix" };
}

/** Error-feedback indices for a palette's tables (GPTQ with the tables as the grid). */
function gptqIndices(
  weight: WeightCandidate,
  palette: Palette,
  statistics: InputStatistics,
): { fallback: string } | undefined {
  const { layout, lut, nbits } = palette;
  const count = palette.indices.length;
  const entries = 1 << nbits;
  const groupOf = groupOfElements(layout, count);
  const round = rounding(valueTypeOf(weight.tensor));
  // Entries k-means left unused (fewer distinct values than entries) are not candidates.
  const used = new Uint8Array(layout.groupCount * entries);
  palette.indices.forEach((index, i) => (used[groupOf[i] * entries + index] = 1));
  const tables: PaletteTable[] = Array.from({ length: layout.groupCount }, (_, g) => {
    const stored = Array.from(lut.subarray(g * entries, (g + 1) * entries), round);
    const order = stored
      .map((_, e) => e)
      .filter((e) => used[g * entries + e] === 1)
      .sort((a, b) => stored[a] - stored[b]);
    return {
      values: Float64Array.from(order, (e) => stored[e]),
      entries: Uint8Array.from(order),
    };
  });
  return gptqPaletteIndices(
    weight.tensor,
    (offset) => tables[groupOf[offset]],
    palette.indices,
    statistics,
    {
      dampening: 0.01,
      activationOrder: false,
    },
  );
}

/**
 * What a pruned weight's palettization cannot hold: the sparse op's indices share the dense
 * weight's mask (so no vectors across it), and nothing can scale the kept values per channel.
 */
function checkJoint(weight: WeightCandidate, config: OpPalettizerConfig): void {
  const refused =
    config.clusterDim > 1
      ? "vector palettization (cluster_dim > 1)"
      : config.enablePerChannelScale
        ? "per-channel scales"
        : undefined;
  if (refused) {
    throw new UnsupportedError(
      `weight ${weight.name}: joint palettization of a pruned weight does not support ${refused}`,
    );
  }
}

/** Joint: a pruned weight's palettization, read for its kept positions only. */
function sparseOps(weight: WeightCandidate, palette: Palette): Operation[] {
  const joint = weight.joint!;
  const { layout, nbits } = palette;
  const indices: Tensor = {
    dtype: `uint${nbits}` as Tensor["dtype"],
    shape: layout.indicesShape,
    data: palette.indices,
  };
  const sparseOp = {
    type: "constexpr_lut_to_sparse",
    name: `${weight.name}_palettized`,
    maskInput: "indices_mask",
    inputs: {
      indices_nonzero_data: weight.value(keptValues(indices, joint)),
      lut: weight.value(tableTensor(weight, lutShape(layout, nbits), palette.lut)),
    },
  };
  return sparseJointOps(joint, sparseOp, weight.tensor.dtype, false);
}

/** The table sizes the weight's deployment target can index (iOS18 added 3 bits). */
function paletteBits(weight: WeightCandidate): readonly number[] {
  return supports(weight.specificationVersion, "iOS18") ? PALETTE_NBITS : IOS16_PALETTE_NBITS;
}

function checkTarget(weight: WeightCandidate, config: OpPalettizerConfig): void {
  if (supports(weight.specificationVersion, "iOS18")) return;
  const fixedBits = config.mode === "kmeans" || config.mode === "uniform";
  const needs =
    fixedBits && config.nbits !== undefined && !paletteBits(weight).includes(config.nbits)
      ? `${config.nbits}-bit palettization`
      : config.granularity === "per_grouped_channel"
        ? "per_grouped_channel palettization"
        : config.clusterDim > 1
          ? "vector palettization (cluster_dim > 1)"
          : config.enablePerChannelScale
            ? "palettization with per-channel scales"
            : undefined;
  if (needs) requireTarget(weight.specificationVersion, "iOS18", `weight ${weight.name}: ${needs}`);
}

/** The channel axis palettization groups along, or undefined when it cannot be decided. */
function channelAxisOf(weight: WeightCandidate, config: OpPalettizerConfig): number | undefined {
  if (weight.outputChannelAxis === undefined || weight.inputChannelAxis === undefined)
    return undefined;
  const rank = weight.tensor.shape.length;
  if (config.granularity === "per_grouped_channel" && config.channelAxis !== undefined) {
    const axis = config.channelAxis;
    if (axis < -rank || axis >= rank) {
      throw new ConfigError(
        `weight ${weight.name}: channel_axis ${axis} is out of range for a rank-${rank} weight`,
      );
    }
    return axis < 0 ? axis + rank : axis;
  }
  return weight.outputChannelAxis;
}

function valueTypeOf(tensor: Tensor): ValueType {
  return tensor.dtype === "fp16" ? "fp16" : "fp32";
}

/** A weight's tables and indices, its per-channel scales, and their SNR when it tells. */
interface PaletteResult {
  palette: Palette;
  scale?: { data: Float64Array; shape: number[] };
  snrDb?: number;
}

async function palettize(
  weight: WeightCandidate,
  config: OpPalettizerConfig,
  pool: TaskPool | undefined,
  importance?: Float64Array,
  mayPack = true,
  mayMove = true,
): Promise<PaletteResult | { skipped: string }> {
  const { tensor } = weight;
  const channelAxis = channelAxisOf(weight, config);
  if (channelAxis === undefined) return { skipped: DISAGREEING_CONSUMERS };
  const groupSize = config.granularity === "per_grouped_channel" ? config.groupSize : 0;
  const layout = groupLayout(tensor.shape, channelAxis, groupSize, config.clusterDim);
  if ("reason" in layout) {
    // A weight whose channels do not split into groups is left alone (as coremltools does);
    // vectors that do not tile the channels are a config error worth reporting.
    if (layout.reason.includes("cluster_dim")) {
      throw new ConfigError(`weight ${weight.name}: ${layout.reason}`);
    }
    return { skipped: layout.reason };
  }

  let halfBits = tensor.dtype === "fp16" ? (tensor.data as Uint16Array) : undefined;
  // Sensitive k-means weighs each element's error by its input's energy (with per-channel
  // scales, by both).
  let elementWeights = importance;
  // fp16 weights travel as their half patterns, decoded only where a mode needs numbers; fp32
  // ones as their floats, widened group by group where they are used (on the workers).
  const floats =
    !config.enablePerChannelScale && tensor.data instanceof Float32Array ? tensor.data : undefined;
  let values: Float64Array | undefined =
    (halfBits && !config.enablePerChannelScale) || floats
      ? undefined
      : Float64Array.from(numericValues(tensor));
  let scale: { data: Float64Array; shape: number[] } | undefined;
  const valueType = valueTypeOf(tensor);
  if (config.enablePerChannelScale) {
    const round = valueType === "fp16" ? roundToHalf : Math.fround;
    const normalized = perChannelScale(values!, tensor.shape, channelAxis, round);
    values = normalized.normalized;
    halfBits = halfBits && Uint16Array.from(values, doubleToHalf);
    scale = { data: normalized.scale, shape: normalized.scaleShape };
    // coremltools clusters the normalized values as they are; matching it exactly matters where
    // it is exact too (fp16 groups of 10,000+ values). Elsewhere each value's error is weighted
    // by its squared scale, so the clusters minimize the error of the weight itself.
    const groupLength = values.length / layout.groupCount;
    if (
      config.mode === "kmeans" &&
      (importance || !(halfBits && groupLength >= KMEANS1D_MINIMUM))
    ) {
      const squares = squaredScales(normalized.scale, tensor.shape, channelAxis);
      elementWeights = importance ? squares.map((s, i) => s * importance[i]) : squares;
    }
  }

  // Half patterns hold fp16 values exactly (normalized ones are rounded to half as well).
  const elementValues = halfBits ? undefined : (floats ?? values!);
  const groupedValues = () => {
    if (halfBits) return Float64Array.from(gatherGroups(layout, halfBits), halfToFloat);
    const grouped = gatherGroups(layout, elementValues!);
    return grouped instanceof Float64Array ? grouped : Float64Array.from(grouped);
  };
  let result: GroupsPalette & { nbits: number; packed?: boolean };
  if (config.mode === "custom") {
    result = customPalette(weight.name, groupedValues(), layout, config, valueType);
    if (!paletteBits(weight).includes(result.nbits)) {
      requireTarget(
        weight.specificationVersion,
        "iOS18",
        `weight ${weight.name}: ${result.nbits}-bit palettization`,
      );
    }
  } else {
    let nbits = config.nbits;
    if (config.mode === "unique") {
      const distinct = maxDistinctPerGroup(groupedValues(), layout.groupCount, layout.clusterDim);
      nbits = nbitsForDistinct(distinct, paletteBits(weight));
      if (nbits === undefined) {
        return { skipped: "more than 256 distinct values in a group: more than 8 bits can index" };
      }
    }
    // In the weight's element order: the worker clustering them gathers their groups.
    const input: GroupsInput = {
      values: elementValues,
      halfBits,
      pointWeights: elementWeights,
      layout,
      groupCount: layout.groupCount,
      clusterDim: layout.clusterDim,
      mode: config.mode,
      nbits: nbits!,
      valueType,
    };
    // The weight's own buffer may go to a worker as it is when nothing else reads it; values
    // decoded or normalized here are a copy of our own.
    const movable =
      !elementWeights &&
      ((halfBits ?? elementValues) !== tensor.data || (mayMove && weight.ownsBuffer));
    // Workers may pack the indices where they are stored in group order as they are.
    const packable = mayPack && layout.channelAxis === 0 && !weight.joint && nbits! < 8;
    result = { ...(await runGroups(input, pool, movable, packable)), nbits: nbits! };
  }
  return {
    palette: {
      layout,
      nbits: result.nbits,
      lut: result.lut,
      indices: result.packed ? result.indices : scatterIndices(layout, result.indices),
      packed: result.packed ?? false,
    },
    scale,
    // Errors of normalized values tell the weight's own only when weighted by the scales (and
    // only by them: importance-weighted errors are not the weight's).
    snrDb:
      (scale && !elementWeights) || importance ? undefined : snrDb(result.signal, result.noise),
  };
}

/** Most elements in one worker job of a tensor's groups. */
const CHUNK_ELEMENTS = 1 << 20;

/**
 * k-means runs on workers, split into chunks of whole groups; cheap modes run inline. With
 * `movable`, the input arrays are the caller's to give away: a single chunk moves them to the
 * worker without a copy. With `packable`, the workers pack their indices (with several chunks,
 * when every chunk starts on a byte; `packed` in the result), so the main thread never holds
 * them a byte each.
 */
async function runGroups(
  input: GroupsInput,
  pool: TaskPool | undefined,
  movable = false,
  packable = false,
): Promise<GroupsPalette & { packed?: boolean }> {
  const length = (input.values ?? input.halfBits!).length;
  const inline = input.clusterDim > 1 ? VECTOR_INLINE_ELEMENTS : INLINE_ELEMENTS;
  if (input.mode !== "kmeans" || !pool || pool.size === 0 || length < inline) {
    return palettizeGroups(input);
  }
  // Two chunks per worker at least, and none over CHUNK_ELEMENTS: the copies in flight stay
  // small next to the tensor.
  const chunks = Math.min(
    input.groupCount,
    Math.max(pool.size * 2, Math.ceil(length / CHUNK_ELEMENTS)),
  );
  if (chunks === 1) {
    // The worker gathers the groups (input.layout), off the calling thread.
    const payload: GroupsInput = movable
      ? { ...input, packIndices: packable }
      : {
          ...input,
          values: input.values?.slice(),
          halfBits: input.halfBits?.slice(),
          pointWeights: input.pointWeights?.slice(),
          packIndices: packable,
        };
    const part = await pool.run<GroupsPalette>("palettizeGroups", payload, transferList(payload));
    return { ...part, packed: packable };
  }
  // Chunks are runs of whole groups: gathered here, once.
  const grouped = inGroupOrder(input);
  const groupLength = length / input.groupCount;
  const entries = (1 << input.nbits) * input.clusterDim;
  const points = length / input.clusterDim;
  const firstGroup = (c: number) => Math.floor((c * input.groupCount) / chunks);
  // Bit offset of chunk c's first index.
  const bitOffset = (c: number) => ((firstGroup(c) * groupLength) / input.clusterDim) * input.nbits;
  const packed =
    packable && Array.from({ length: chunks }, (_, c) => bitOffset(c) % 8 === 0).every(Boolean);
  const lut = new Float64Array(input.groupCount * entries);
  const indices = new Uint8Array(packed ? Math.ceil((points * input.nbits) / 8) : points);
  const jobs: Promise<void>[] = [];
  let signal = 0;
  let noise = 0;
  for (let c = 0; c < chunks; c++) {
    const first = firstGroup(c);
    const end = firstGroup(c + 1);
    const from = first * groupLength;
    const to = end * groupLength;
    // Each chunk's inputs are copies the worker may keep: moved, not cloned, and made only
    // when a worker takes the chunk.
    const prepare = () => {
      const payload: GroupsInput = {
        ...grouped,
        values: grouped.values?.slice(from, to),
        halfBits: grouped.halfBits?.slice(from, to),
        pointWeights: grouped.pointWeights?.slice(from, to),
        groupCount: end - first,
        packIndices: packed,
      };
      return { payload, transfer: transferList(payload) };
    };
    jobs.push(
      pool.runPrepared<GroupsPalette>("palettizeGroups", prepare).then((part) => {
        lut.set(part.lut, first * entries);
        indices.set(part.indices, packed ? bitOffset(c) / 8 : from / input.clusterDim);
        signal += part.signal;
        noise += part.noise;
      }),
    );
  }
  await Promise.all(jobs);
  return { lut, indices, packed, signal, noise };
}

/** The buffers of a chunk's input arrays (each a whole buffer of its own). */
function transferList(payload: GroupsInput): ArrayBuffer[] {
  return [payload.values, payload.halfBits, payload.pointWeights].flatMap((array) =>
    array ? [array.buffer as ArrayBuffer] : [],
  );
}

function customPalette(
  name: string,
  grouped: Float64Array,
  layout: GroupLayout,
  config: OpPalettizerConfig,
  valueType: ValueType,
): GroupsPalette & { nbits: number } {
  const { groupCount, clusterDim } = layout;
  const groupLength = grouped.length / groupCount;
  const points = groupLength / clusterDim;
  const parts: { lut: ArrayLike<number>; indices: ArrayLike<number> }[] = [];
  for (let g = 0; g < groupCount; g++) {
    const part = config.lutFunction!(grouped.slice(g * groupLength, (g + 1) * groupLength));
    if (!part || !part.lut || !part.indices) {
      throw new ConfigError(`weight ${name}: lut_function must return { lut, indices }`);
    }
    parts.push(part);
  }
  const entries = parts[0].lut.length / clusterDim;
  const nbits = Math.ceil(Math.log2(entries));
  if (!PALETTE_NBITS.includes(nbits as 1) || entries !== 1 << nbits) {
    throw new ConfigError(
      `weight ${name}: lut_function returned ${parts[0].lut.length} table values; expected ` +
        `2^nbits × cluster_dim (${clusterDim}) with nbits in ${PALETTE_NBITS.join(", ")}`,
    );
  }
  const lut = new Float64Array(groupCount * entries * clusterDim);
  const indices = new Uint8Array(groupCount * points);
  parts.forEach((part, g) => {
    if (part.lut.length !== entries * clusterDim) {
      throw new ConfigError(
        `weight ${name}: lut_function returned tables of different sizes (${part.lut.length} and ${entries * clusterDim})`,
      );
    }
    if (part.indices.length !== points) {
      throw new ConfigError(
        `weight ${name}: lut_function returned ${part.indices.length} indices for ${points} points`,
      );
    }
    lut.set(Array.from(part.lut), g * entries * clusterDim);
    for (let i = 0; i < points; i++) {
      const index = part.indices[i];
      if (!Number.isInteger(index) || index < 0 || index >= entries) {
        throw new ConfigError(
          `weight ${name}: lut_function returned index ${index}, outside the table of ${entries} entries`,
        );
      }
      indices[g * points + i] = index;
    }
  });
  const sums = { signal: 0, noise: 0 };
  const round = rounding(valueType);
  accumulatePaletteError(grouped, lut, indices, clusterDim, round, sums);
  return { lut, indices, nbits, ...sums };
}

/** The weight's element type for table values. */
function tableTensor(weight: WeightCandidate, shape: number[], values: Float64Array): Tensor {
  if (weight.tensor.dtype === "fp16") {
    return { dtype: "fp16", shape, data: Uint16Array.from(values, doubleToHalf) };
  }
  return { dtype: "fp32", shape, data: Float32Array.from(values) };
}

function buildOps(
  weight: WeightCandidate,
  palette: Palette,
  scale: { data: Float64Array; shape: number[] } | undefined,
): Operation[] {
  const { tensor, name } = weight;
  const { layout, nbits } = palette;
  const output = { name: `${name}_palettized`, dtype: tensor.dtype, shape: tensor.shape };
  const tableShape = lutShape(layout, nbits);
  if (!supports(weight.specificationVersion, "iOS18")) {
    if (layout.groupCount !== 1 || layout.clusterDim !== 1) {
      throw new UnsupportedError(
        `weight ${name}: iOS16 constexpr_lut_to_dense holds a single scalar table; needs iOS18`,
      );
    }
    // The iOS16 op holds its parameters as attributes.
    return [
      makeOperation("constexpr_lut_to_dense", output.name, {}, [output], {
        indices: weight.value({
          dtype: "uint8",
          shape: [Math.ceil((elementCount(layout.indicesShape) * nbits) / 8)],
          data: palette.packed ? palette.indices : packSubByte(palette.indices, nbits),
        }),
        lut: weight.value(tableTensor(weight, [1 << nbits], palette.lut)),
        shape: weight.value({
          dtype: "uint32",
          shape: [tensor.shape.length],
          data: Uint32Array.from(tensor.shape),
        }),
      }),
    ];
  }

  const indices = weight.value({
    dtype: `uint${nbits}` as Tensor["dtype"],
    shape: layout.indicesShape,
    data: palette.indices,
    packed: palette.packed,
  });
  const vectorAxis: Record<string, Value> =
    layout.clusterDim > 1
      ? {
          vector_axis: weight.value({
            dtype: "int32",
            shape: [],
            data: Int32Array.of(layout.channelAxis),
          }),
        }
      : {};
  if (!scale) {
    const lut = weight.value(tableTensor(weight, tableShape, palette.lut));
    return [
      makeOperation("constexpr_lut_to_dense", output.name, { indices, lut, ...vectorAxis }, [
        output,
      ]),
    ];
  }
  // The scales multiply the table (repeated to one table per scale), then the table is read.
  const scaledShape = [...scale.shape, 1, 1].map((d, i) => Math.max(d, tableShape[i]));
  const data = weight.value(
    tableTensor(weight, scaledShape, broadcastTo(palette.lut, tableShape, scaledShape)),
  );
  const scales = weight.value(tableTensor(weight, [...scale.shape, 1, 1], scale.data));
  const scaled = { name: output.name, dtype: tensor.dtype, shape: scaledShape };
  return [
    makeOperation("constexpr_blockwise_shift_scale", scaled.name, { data, scale: scales }, [
      scaled,
    ]),
    makeOperation(
      "constexpr_lut_to_dense",
      `${name}_palettized_pcs`,
      { indices, lut: scaled.name, ...vectorAxis },
      [{ ...output, name: `${name}_palettized_pcs` }],
    ),
  ];
}
