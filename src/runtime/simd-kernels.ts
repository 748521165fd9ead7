/**
 * Convolutions, linear layers and matrix products on the SIMD kernels (kernels/simd/): the
 * layouts each op hands the packed product, and what is packed once per constant. Outputs are
 * blocks of the prediction's arena; a fused activation is applied as the tiles are written.
 * The plain kernels of kernels/ops/ remain the reference: tests hold these to them.
 */
import { convOutputSize, type Window2d } from "../kernels/ops/conv.js";
import type { Dense } from "../kernels/ops/elementwise.js";
import { planMatmul } from "../kernels/ops/matmul.js";
import {
  packedABytes,
  packedBBytes,
  PANEL_COLS,
  PANEL_ROWS,
  runDepthwise,
  runGemm,
  runWinograd,
  Start,
  type PanelSource,
} from "../kernels/simd/gemm.js";
import { runArithmetic, runPackA, runPad } from "../kernels/simd/streams.js";
import type { OpContext } from "./kernel.js";
import type { SimdRuntime } from "./simd.js";

/** runArithmetic's code for addition. */
const ADDITION = 0;

/** The op's clamp, which the kernels apply (and say so). */
function clampOf(ctx: OpContext): { lo?: number; hi?: number } {
  const clamp = ctx.services.clamp;
  if (!clamp) return {};
  ctx.clamped = true;
  return clamp;
}

/**
 * Where the kernels read a residual to add to an output of `shape` (undefined: none, or one of
 * another shape, which the caller adds), and the clamp they apply: none when the caller adds
 * the residual, as the clamp comes after the sum.
 */
function residualOf(
  ctx: OpContext,
  simd: SimdRuntime,
  residual: Dense | undefined,
  shape: readonly number[],
  onResidualAdded?: () => void,
): { adding?: number; clamp: { lo?: number; hi?: number } } {
  if (!residual) return { clamp: clampOf(ctx) };
  const alike =
    residual.shape.length === shape.length && shape.every((d, i) => d === residual.shape[i]);
  if (!alike) return { clamp: {} };
  onResidualAdded?.();
  return { adding: simd.input(residual.data).byteOffset, clamp: clampOf(ctx) };
}

/** A packed form of an op input: kept when the input is a constant, per call otherwise. */
function packed(
  ctx: OpContext,
  simd: SimdRuntime,
  input: string,
  values: Float32Array,
  how: string,
  bytes: number,
  pack: (at: number) => void,
): number {
  if (ctx.isConstant(input)) return simd.weights(values, how, bytes, pack);
  const at = simd.scratch(Math.ceil(bytes / 4)).byteOffset;
  pack(at);
  return at;
}

/** A table kept by the op between predictions, remade when its key (the shapes) changes. */
function table(
  ctx: OpContext,
  simd: SimdRuntime,
  name: string,
  key: string,
  values: () => Int32Array,
): number {
  const kept = ctx.services.cache?.get(name) as { key: string; at: number } | undefined;
  if (kept?.key === key) return kept.at;
  const made = values();
  const at = simd.keep(made.length * 4);
  simd.heap.ints(at, made.length).set(made);
  if (kept) simd.forget(kept.at);
  ctx.services.cache?.set(name, { key, at });
  return at;
}

/**
 * conv of x [N, C, H, W] with weight [O, C/groups, KH, KW]: the output data [N, O, OH, OW],
 * plus `residual` (before the clamp) when it has that shape; `onResidualAdded` says it did.
 */
export function simdConv(
  ctx: OpContext,
  simd: SimdRuntime,
  x: Dense,
  weight: Dense,
  bias: Float32Array | undefined,
  win: Window2d,
  groups: number,
  residual?: Dense,
  onResidualAdded?: () => void,
): Dense {
  const [n, c, h, w] = x.shape;
  const [o, cg, kh, kw] = weight.shape;
  const [pt, pb, pl, pr] = win.pads;
  const [sh, sw] = win.strides;
  const [dh, dw] = win.dilations;
  const oh = convOutputSize(h, kh, sh, dh, pt, pb);
  const ow = convOutputSize(w, kw, sw, dw, pl, pr);
  const og = o / groups;
  const spatial = oh * ow;
  const out = simd.output(n * o * spatial);
  const src = simd.input(x.data).byteOffset;
  const biasAt =
    bias && (ctx.isConstant("bias") ? simd.constant(bias) : simd.input(bias).byteOffset);
  const { adding, clamp } = residualOf(ctx, simd, residual, [n, o, oh, ow], onResidualAdded);
  // Kernels that cannot add a residual as they write: the sum afterwards, in place, clamped.
  const beforeSum = adding === undefined ? clamp : {};
  const addAfter = () => {
    if (adding === undefined) return;
    const count = out.length;
    const [x, y, dst] = [out.byteOffset, adding, out.byteOffset];
    runArithmetic(simd.team, {
      x,
      xLength: count,
      y,
      yLength: count,
      dst,
      count,
      op: ADDITION,
      ...clamp,
    });
  };
  if (cg === 1 && og === 1) {
    const weights = ctx.isConstant("weight")
      ? simd.constant(weight.data)
      : simd.input(weight.data).byteOffset;
    runDepthwise(simd.team, {
      src,
      planes: n * c,
      channels: c,
      h,
      w,
      pads: win.pads,
      weights,
      kernel: win.kernel,
      strides: win.strides,
      dilations: win.dilations,
      oh,
      ow,
      dst: out.byteOffset,
      bias: biasAt,
      ...beforeSum,
    });
    addAfter();
    return { shape: [n, o, oh, ow], data: out };
  }
  const winograd =
    groups === 1 &&
    kh === 3 &&
    kw === 3 &&
    sh === 1 &&
    sw === 1 &&
    dh === 1 &&
    dw === 1 &&
    Math.ceil(oh / 2) * Math.ceil(ow / 2) >= WINOGRAD_MIN_TILES;
  if (winograd) {
    winogradConv(ctx, simd, x, weight, biasAt, win, [oh, ow], out, beforeSum);
    addAfter();
    return { shape: [n, o, oh, ow], data: out };
  }
  const k = cg * kh * kw;
  const pointwise = kh === 1 && kw === 1 && sh === 1 && sw === 1 && pt + pb + pl + pr === 0;
  const hp = h + pt + pb;
  const wp = w + pl + pr;
  let padded = src;
  let origins = 0;
  let taps = 0;
  if (!pointwise) {
    const key = `${h},${w},${win.pads},${win.strides},${win.dilations}`;
    origins = table(ctx, simd, "origins", key, () => {
      const values = new Int32Array(spatial);
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) values[oy * ow + ox] = (oy * sh * wp + ox * sw) * 4;
      return values;
    });
    taps = table(ctx, simd, "taps", key, () => {
      const values = new Int32Array(k);
      for (let ci = 0, p = 0; ci < cg; ci++)
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++, p++)
            values[p] = (ci * hp * wp + ky * dh * wp + kx * dw) * 4;
      return values;
    });
    if (pt + pb + pl + pr > 0) {
      padded = simd.scratch(n * c * hp * wp).byteOffset;
      runPad(simd.team, { src, planes: n * c, h, w, dst: padded, pads: win.pads });
    }
  }
  if (groups === 1 && transposedPays(o, spatial)) {
    const kernels = simd.heap.kernels;
    transposedConv(
      ctx,
      simd,
      weight.data,
      biasAt,
      [n, o, k, spatial],
      out,
      adding,
      clamp,
      (b, at) =>
        pointwise
          ? runPackA(simd.team, {
              src: src + b * c * spatial * 4,
              rowStride: 4,
              colStride: spatial * 4,
              rows: spatial,
              k: c,
              dst: at,
            })
          : kernels.packPatchesA(padded + b * c * hp * wp * 4, origins, taps, k, spatial, at),
    );
    return { shape: [n, o, oh, ow], data: out };
  }
  const groupBytes = packedABytes(og, k);
  const a = packed(ctx, simd, "weight", weight.data, "conv", groups * groupBytes, (at) => {
    const values = simd.input(weight.data).byteOffset;
    for (let g = 0; g < groups; g++) {
      simd.heap.kernels.packA(values + g * og * k * 4, k * 4, 4, og, k, at + g * groupBytes);
    }
  });
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const channel = b * c + g * cg;
      const source: PanelSource = pointwise
        ? { kind: "strided", at: src + channel * h * w * 4, rowStride: h * w * 4, colStride: 4 }
        : { kind: "patches", at: padded + channel * hp * wp * 4, origins, taps };
      runGemm(simd.team, {
        a: a + g * groupBytes,
        rows: og,
        k,
        cols: spatial,
        b: source,
        c: out.byteOffset + (b * o + g * og) * spatial * 4,
        ldc: spatial * 4,
        start: biasAt ? Start.RowBias : Start.Zero,
        bias: biasAt ? biasAt + g * og * 4 : 0,
        residual: adding === undefined ? undefined : adding + (b * o + g * og) * spatial * 4,
        ...clamp,
      });
    }
  }
  return { shape: [n, o, oh, ow], data: out };
}

/** Planes of up to this many output positions (16 × 16) may be multiplied transposed. */
const TRANSPOSED_MAX_SPATIAL = 256;

/**
 * Whether a convolution of `outputs` channels over `spatial` positions is better computed
 * transposed (see transposedConv), in as many tiles or fewer: on small planes, where the
 * direct product's 8-column panels waste columns past the plane's end (a 7 × 7 plane: 49 of 56)
 * and read the input rows of a 1 × 1 convolution in place, far apart.
 */
function transposedPays(outputs: number, spatial: number): boolean {
  const direct = Math.ceil(outputs / PANEL_ROWS) * Math.ceil(spatial / PANEL_COLS);
  const transposed = Math.ceil(spatial / PANEL_ROWS) * Math.ceil(outputs / PANEL_COLS);
  return spatial <= TRANSPOSED_MAX_SPATIAL && transposed <= direct;
}

/**
 * A convolution of one group as the transposed product Yᵀ = Xᵀ · Wᵀ, on small planes: per
 * image, its windows packed as A by `packInput` (4 output positions per panel), the weights as
 * B panels of 8 output channels (packed once), each tile stored transposed into the output
 * planes.
 */
function transposedConv(
  ctx: OpContext,
  simd: SimdRuntime,
  weight: Float32Array,
  bias: number | undefined,
  [n, o, k, spatial]: [number, number, number, number],
  out: Float32Array,
  residual: number | undefined,
  clamp: { lo?: number; hi?: number },
  packInput: (image: number, at: number) => void,
): void {
  const b = packed(ctx, simd, "weight", weight, "conv-columns", packedBBytes(k, o), (at) =>
    simd.heap.kernels.packB(simd.input(weight).byteOffset, 4, k * 4, k, 0, o, at),
  );
  const a = simd.scratch(packedABytes(spatial, k) / 4).byteOffset;
  for (let i = 0; i < n; i++) {
    packInput(i, a);
    runGemm(simd.team, {
      a,
      rows: spatial,
      k,
      cols: o,
      b: { kind: "packed", at: b },
      c: out.byteOffset + i * o * spatial * 4,
      ldc: spatial * 4,
      transposed: true,
      start: bias ? Start.ColumnBias : Start.Zero,
      bias: bias ?? 0,
      residual: residual === undefined ? undefined : residual + i * o * spatial * 4,
      ...clamp,
    });
  }
}

/**
 * Below this many 2 × 2 output tiles, Winograd's products are too narrow for the kernel (its
 * panels are 8 tiles wide) to gain over the direct product.
 */
const WINOGRAD_MIN_TILES = 16;

/**
 * The 16 transformed 3 × 3 filters of Winograd's F(2×2, 3×3), U = G·g·Gᵀ with
 * G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]: product ξ = 4i + j as an [O, C] matrix.
 */
function winogradFilters(weight: Float32Array, outputs: number, inputs: number): Float32Array[] {
  const products = Array.from({ length: 16 }, () => new Float32Array(outputs * inputs));
  const gg = new Float64Array(12);
  for (let o = 0; o < outputs; o++) {
    for (let c = 0; c < inputs; c++) {
      const g = weight.subarray((o * inputs + c) * 9, (o * inputs + c + 1) * 9);
      for (let j = 0; j < 3; j++) {
        gg[j] = g[j];
        gg[3 + j] = (g[j] + g[3 + j] + g[6 + j]) / 2;
        gg[6 + j] = (g[j] - g[3 + j] + g[6 + j]) / 2;
        gg[9 + j] = g[6 + j];
      }
      for (let i = 0; i < 4; i++) {
        const [a, b, d] = [gg[3 * i], gg[3 * i + 1], gg[3 * i + 2]];
        const row = [a, (a + b + d) / 2, (a - b + d) / 2, d];
        for (let j = 0; j < 4; j++) products[4 * i + j][o * inputs + c] = row[j];
      }
    }
  }
  return products;
}

/** A 3 × 3 convolution at stride 1 through Winograd's F(2×2, 3×3) (kernels/simd/gemm.ts). */
function winogradConv(
  ctx: OpContext,
  simd: SimdRuntime,
  x: Dense,
  weight: Dense,
  bias: number | undefined,
  win: Window2d,
  [oh, ow]: [number, number],
  out: Float32Array,
  clamp: { lo?: number; hi?: number },
): void {
  const [n, c, h, w] = x.shape;
  const o = weight.shape[0];
  const [pt, , pl] = win.pads;
  const [th, tw] = [Math.ceil(oh / 2), Math.ceil(ow / 2)];
  // Every tile reads a whole 4 × 4 block: one more zero row (column) for odd sizes.
  const hp = 2 * th + 2;
  const wp = 2 * tw + 2;
  const filterBytes = packedABytes(o, c);
  const filters = packed(ctx, simd, "weight", weight.data, "winograd", 16 * filterBytes, (at) => {
    winogradFilters(weight.data, o, c).forEach((product, i) => {
      const values = simd.input(product).byteOffset;
      simd.heap.kernels.packA(values, c * 4, 4, o, c, at + i * filterBytes);
    });
  });
  const src = simd.input(x.data).byteOffset;
  const padded = simd.scratch(n * c * hp * wp).byteOffset;
  const pads = [pt, hp - h - pt, pl, wp - w - pl] as const;
  runPad(simd.team, { src, planes: n * c, h, w, dst: padded, pads });
  for (let b = 0; b < n; b++) {
    runWinograd(simd.team, {
      src: padded + b * c * hp * wp * 4,
      channels: c,
      wp,
      plane: hp * wp * 4,
      rows: o,
      oh,
      ow,
      tileColumns: tw,
      tiles: th * tw,
      filters,
      filterBytes,
      dst: out.byteOffset + b * o * oh * ow * 4,
      bias,
      ...clamp,
    });
  }
}

/**
 * y = x · Wᵀ + b over the last axis of x; W is [out, in]; plus `residual` (before the clamp)
 * when it has y's shape, as simdConv.
 */
export function simdLinear(
  ctx: OpContext,
  simd: SimdRuntime,
  x: Dense,
  weight: Dense,
  bias: Float32Array | undefined,
  residual?: Dense,
  onResidualAdded?: () => void,
): Dense {
  const [outFeatures, inFeatures] = weight.shape;
  const rows = x.data.length / inFeatures;
  const shape = [...x.shape.slice(0, -1), outFeatures];
  const { adding, clamp } = residualOf(ctx, simd, residual, shape, onResidualAdded);
  const out = simd.output(rows * outFeatures);
  const b = packed(
    ctx,
    simd,
    "weight",
    weight.data,
    "linear",
    packedBBytes(inFeatures, outFeatures),
    (at) =>
      simd.heap.kernels.packB(
        simd.input(weight.data).byteOffset,
        4,
        inFeatures * 4,
        inFeatures,
        0,
        outFeatures,
        at,
      ),
  );
  const a = simd.scratch(packedABytes(rows, inFeatures) / 4).byteOffset;
  simd.heap.kernels.packA(simd.input(x.data).byteOffset, inFeatures * 4, 4, rows, inFeatures, a);
  const biasAt =
    bias && (ctx.isConstant("bias") ? simd.constant(bias) : simd.input(bias).byteOffset);
  runGemm(simd.team, {
    a,
    rows,
    k: inFeatures,
    cols: outFeatures,
    b: { kind: "packed", at: b },
    c: out.byteOffset,
    ldc: outFeatures * 4,
    start: biasAt ? Start.ColumnBias : Start.Zero,
    bias: biasAt,
    residual: adding,
    ...clamp,
  });
  return { shape, data: out };
}

/** numpy matmul with optional transposition of the last two axes of either operand. */
export function simdMatmul(
  simd: SimdRuntime,
  x: Dense,
  y: Dense,
  transposeX: boolean,
  transposeY: boolean,
): Dense {
  const plan = planMatmul(x.shape, y.shape, transposeX, transposeY);
  const { m, k, n } = plan;
  const out = simd.output(plan.batches * m * n);
  const xAt = simd.input(x.data).byteOffset;
  const yAt = simd.input(y.data).byteOffset;
  const a = simd.scratch(packedABytes(m, k) / 4).byteOffset;
  for (let bi = 0; bi < plan.batches; bi++) {
    const xBase = xAt + plan.xOffset(bi) * 4;
    // Row i, column p of the product's left operand.
    simd.heap.kernels.packA(xBase, (transposeX ? 1 : k) * 4, (transposeX ? m : 1) * 4, m, k, a);
    runGemm(simd.team, {
      a,
      rows: m,
      k,
      cols: n,
      b: {
        kind: "strided",
        at: yAt + plan.yOffset(bi) * 4,
        rowStride: (transposeY ? 1 : n) * 4,
        colStride: (transposeY ? k : 1) * 4,
      },
      c: out.byteOffset + bi * m * n * 4,
      ldc: n * 4,
      start: Start.Zero,
    });
  }
  return { shape: plan.shape, data: out };
}
