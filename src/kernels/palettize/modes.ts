/**
 * Look-up tables and indices for groups of weights, one palettization mode at a time. A group
 * is a run of `clusterDim`-long points (scalars when clusterDim is 1); every group gets its own
 * table of 2^nbits entries.
 */
import { packSubByte } from "../bitpack.js";
import { halfToFloat, roundToHalf } from "../fp16.js";
import { gatherGroups, type GroupLayout } from "./groups.js";
import {
  distinctHalfWithCounts,
  distinctWithCounts,
  distinctWithWeights,
  kmeans1D,
} from "./kmeans1d.js";
import { vectorKMeans } from "./vector-kmeans.js";
import { roundHalfEven } from "../rounding.js";

export type PaletteMode = "kmeans" | "uniform" | "unique";

/** The bit widths a table index may have. */
export const PALETTE_NBITS = [1, 2, 3, 4, 6, 8] as const;

/** Float element types whose arithmetic uniform mode reproduces (others use doubles). */
export type ValueType = "fp16" | "fp32" | "fp64";

export interface GroupsInput {
  /**
   * All groups' points back to back: groupCount × pointsPerGroup × clusterDim values. May be
   * left out when `halfBits` holds them (decoded one group at a time where needed). Float32
   * weights travel as they are, half the bytes, widened one group at a time where they are used.
   */
  values?: Float64Array | Float32Array;
  /** The same values as half bit patterns when the weight is fp16 (speeds up k-means). */
  halfBits?: Uint16Array;
  /**
   * How much each point's error counts (scalar k-means only; default 1). Per-channel scaling
   * passes the squared scales so the clusters minimize the error of the rescaled weight.
   */
  pointWeights?: Float64Array;
  groupCount: number;
  clusterDim: number;
  mode: PaletteMode;
  nbits: number;
  valueType: ValueType;
  /** Return the indices packed as stored (nbits each, LSB first), a quarter to half the size. */
  packIndices?: boolean;
  /**
   * When set, `values`, `halfBits` and `pointWeights` are in the weight's element order and are
   * gathered into group order by this layout where they are clustered (on a worker, not the
   * calling thread).
   */
  layout?: GroupLayout;
}

/** Running sums of squared values and squared errors. */
export interface ErrorSums {
  signal: number;
  noise: number;
}

/**
 * The tables and indices, and (as ErrorSums) Σ v² and Σ (v − its entry)² over all values, each
 * weighted by its point weight, with the entries rounded to the weight's type as stored.
 */
export interface GroupsPalette extends ErrorSums {
  /** groupCount × 2^nbits × clusterDim table entries. */
  lut: Float64Array;
  /** One entry index per point, groups back to back (packed with `packIndices`). */
  indices: Uint8Array;
}

/**
 * Adds a group's squared values and squared errors against its table to `sums` (each value
 * weighted by `weights`, when given), with the table rounded as stored.
 */
export function accumulatePaletteError(
  values: Float64Array,
  lut: Float64Array,
  indices: Uint8Array | Uint16Array,
  clusterDim: number,
  round: (x: number) => number,
  sums: ErrorSums,
  weights?: Float64Array,
): void {
  const stored = lut.map(round);
  let signal = 0;
  let noise = 0;
  for (let point = 0, i = 0; point < indices.length; point++) {
    const entry = indices[point] * clusterDim;
    for (let d = 0; d < clusterDim; d++, i++) {
      const v = values[i];
      const e = v - stored[entry + d];
      const w = weights ? weights[i] : 1;
      signal += w * v * v;
      noise += w * e * e;
    }
  }
  sums.signal += signal;
  sums.noise += noise;
}

/** `input` with its arrays in group order (gathered when they are in element order). */
export function inGroupOrder(input: GroupsInput): GroupsInput {
  const { layout } = input;
  if (!layout) return input;
  return {
    ...input,
    values: input.values && gatherGroups(layout, input.values),
    halfBits: input.halfBits && gatherGroups(layout, input.halfBits),
    pointWeights: input.pointWeights && gatherGroups(layout, input.pointWeights),
    layout: undefined,
  };
}

export function palettizeGroups(input: GroupsInput): GroupsPalette {
  if (input.layout) return palettizeGroups(inGroupOrder(input));
  const { values, halfBits, groupCount, clusterDim, nbits } = input;
  const length = values?.length ?? halfBits?.length;
  if (length === undefined) throw new TypeError("palettizeGroups needs values or halfBits");
  const entries = 1 << nbits;
  const groupLength = length / groupCount;
  const lut = new Float64Array(groupCount * entries * clusterDim);
  const indices = new Uint8Array(length / clusterDim);
  const round = rounding(input.valueType);
  const sums = { signal: 0, noise: 0 };
  for (let g = 0; g < groupCount; g++) {
    const start = g * groupLength;
    const half = halfBits?.subarray(start, start + groupLength);
    const weights = input.pointWeights?.subarray(start, start + groupLength);
    const groupLut = lut.subarray(g * entries * clusterDim, (g + 1) * entries * clusterDim);
    const groupIndices = indices.subarray(start / clusterDim, (start + groupLength) / clusterDim);
    if (half && !weights && clusterDim === 1 && input.mode !== "uniform") {
      halfGroup(input.mode, half, entries, groupLut, groupIndices, round, sums);
      continue;
    }
    const group =
      values instanceof Float32Array
        ? new Float64Array(values.subarray(start, start + groupLength))
        : (values?.subarray(start, start + groupLength) ?? Float64Array.from(half!, halfToFloat));
    if (input.mode === "uniform") uniform(group, nbits, input.valueType, groupLut, groupIndices);
    else if (clusterDim > 1) {
      const clustered = vectorGroup(
        input.mode,
        group,
        clusterDim,
        entries,
        groupLut,
        groupIndices,
        round,
      );
      if (clustered) {
        // k-means keeps the sums the errors come from: no second pass over the points.
        sums.signal += clustered.signal;
        sums.noise += clustered.error;
        continue;
      }
    } else scalarGroup(input.mode, group, weights, entries, groupLut, groupIndices);
    accumulatePaletteError(group, groupLut, groupIndices, clusterDim, round, sums, weights);
  }
  const packed = input.packIndices ? packSubByte(indices, nbits) : indices;
  return { lut, indices: packed, ...sums };
}

/** Per-thread map from half pattern to table entry, for the group being indexed. */
const entryOfHalf = new Uint8Array(65536);

/** Scalar k-means or unique on half patterns: a histogram, no decoding of the group. */
function halfGroup(
  mode: PaletteMode,
  bits: Uint16Array,
  entries: number,
  lut: Float64Array,
  indices: Uint8Array,
  round: (x: number) => number,
  sums: ErrorSums,
): void {
  const distinct = distinctHalfWithCounts(bits);
  let entryOf: Uint16Array;
  if (mode === "unique") {
    if (distinct.values.length > entries) throw new RangeError("too many distinct values");
    lut.set(distinct.values);
    entryOf = Uint16Array.from({ length: distinct.values.length }, (_, d) => d);
  } else {
    const { centroids, assignment } = kmeans1D(distinct.values, distinct.counts, entries);
    lut.set(centroids);
    entryOf = assignment;
  }
  // The map is only read for patterns present in the group; one zero stands for both.
  for (let d = 0; d < distinct.bits.length; d++) {
    const pattern = distinct.bits[d];
    entryOfHalf[pattern] = entryOf[d];
    if ((pattern & 0x7fff) === 0) entryOfHalf[pattern ^ 0x8000] = entryOf[d];
  }
  for (let i = 0; i < bits.length; i++) indices[i] = entryOfHalf[bits[i]];
  // The error from the distinct values weighted by their counts, not from every element.
  accumulatePaletteError(distinct.values, lut, entryOf, 1, round, sums, distinct.counts);
}

/** Rounding after each arithmetic step, as numpy computes in the weight's dtype. */
export function rounding(type: ValueType): (x: number) => number {
  if (type === "fp16") return roundToHalf;
  if (type === "fp32") return Math.fround;
  return (x) => x;
}

/** Evenly spaced entries from the minimum to the maximum (coremltools' formula and order of operations). */
function uniform(
  values: Float64Array,
  nbits: number,
  type: ValueType,
  lut: Float64Array,
  indices: Uint8Array,
): void {
  const r = rounding(type);
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const steps = (1 << nbits) - 1;
  const range = r(max - min);
  // Only the range is rounded to the weight's type; the step and the table are computed in
  // doubles and rounded once when stored (what coremltools' numpy arithmetic amounts to).
  const scale = range / steps;
  for (let i = 0; i < values.length; i++) {
    indices[i] = range === 0 ? 0 : roundHalfEven(r(r(r(values[i] - min) / range) * steps));
  }
  for (let i = 0; i <= steps; i++) lut[i] = i * scale + min;
}

function scalarGroup(
  mode: PaletteMode,
  values: Float64Array,
  weights: Float64Array | undefined,
  entries: number,
  lut: Float64Array,
  indices: Uint8Array,
): void {
  const distinct = weights ? distinctWithWeights(values, weights) : distinctWithCounts(values);
  let upper: Float64Array; // largest value of each entry, ascending
  if (mode === "unique") {
    if (distinct.values.length > entries) throw new RangeError("too many distinct values");
    lut.set(distinct.values);
    upper = distinct.values;
  } else {
    const { centroids, assignment } = kmeans1D(distinct.values, distinct.counts, entries);
    lut.set(centroids);
    upper = new Float64Array(centroids.length);
    for (let i = 0; i < assignment.length; i++) upper[assignment[i]] = distinct.values[i];
  }
  for (let i = 0; i < values.length; i++) indices[i] = firstAtLeast(upper, values[i]);
}

/** Index of the first element of sorted `sorted` that is ≥ x. */
function firstAtLeast(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Unique or k-means tables of vectors; k-means returns its squared error and Σ v². */
function vectorGroup(
  mode: PaletteMode,
  points: Float64Array,
  dim: number,
  entries: number,
  lut: Float64Array,
  indices: Uint8Array,
  round: (x: number) => number,
): { error: number; signal: number } | undefined {
  if (mode === "unique") {
    const rows = sortedDistinctRows(points, dim);
    if (rows.length > entries) throw new RangeError("too many distinct vectors");
    const index = new Map<string, number>();
    rows.forEach((row, i) => {
      lut.set(row, i * dim);
      index.set(row.join(","), i);
    });
    for (let p = 0; p < indices.length; p++) {
      indices[p] = index.get(Array.from(points.subarray(p * dim, p * dim + dim)).join(","))!;
    }
    return undefined;
  }
  const { centroids, assignment, error, signal } = vectorKMeans(points, dim, entries, round);
  lut.set(centroids);
  indices.set(assignment);
  return { error, signal };
}

/** Distinct rows in lexicographic numeric order (numpy's unique along axis 0). */
function sortedDistinctRows(points: Float64Array, dim: number): number[][] {
  const seen = new Map<string, number[]>();
  for (let p = 0; p < points.length / dim; p++) {
    const row = Array.from(points.subarray(p * dim, p * dim + dim));
    seen.set(row.join(","), row);
  }
  return [...seen.values()].sort((a, b) => {
    for (let j = 0; j < dim; j++) if (a[j] !== b[j]) return a[j] - b[j];
    return 0;
  });
}

/** Number of distinct points (scalars or clusterDim-vectors) in each group, the largest. */
export function maxDistinctPerGroup(
  values: Float64Array,
  groupCount: number,
  clusterDim: number,
): number {
  const groupLength = values.length / groupCount;
  let most = 0;
  for (let g = 0; g < groupCount; g++) {
    const seen = new Set<string | number>();
    for (let p = g * groupLength; p < (g + 1) * groupLength; p += clusterDim) {
      seen.add(
        clusterDim === 1 ? values[p] : Array.from(values.subarray(p, p + clusterDim)).join(","),
      );
    }
    most = Math.max(most, seen.size);
  }
  return most;
}

/** Bit widths iOS16's `constexpr_lut_to_dense` indexes its table with (3 came with iOS18). */
export const IOS16_PALETTE_NBITS = [1, 2, 4, 6, 8] as const;

/** Smallest of the `allowed` bit widths whose table holds `distinct` entries, if any. */
export function nbitsForDistinct(
  distinct: number,
  allowed: readonly number[] = PALETTE_NBITS,
): number | undefined {
  return allowed.find((nbits) => distinct <= 1 << nbits);
}
