/**
 * Convolution, transposed convolution and pooling over 2-D spatial tensors [N, C, H, W]
 * (1-D ones are run as H = 1). Convolutions unfold patches (im2col) and multiply with the
 * blocked GEMM.
 */
import { gemm, type Gemm } from "./matmul.js";
import { freshArray, type Allocate, type Dense } from "./elementwise.js";

export type PadType = "valid" | "same" | "same_lower" | "custom";

export interface Window2d {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  /** [top, bottom, left, right] */
  pads: [number, number, number, number];
}

/** Before/after padding of one spatial axis for a pad type, given the custom pads. */
export function spatialPadding(
  padType: PadType,
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
  custom: [number, number],
): [number, number] {
  if (padType === "valid") return [0, 0];
  if (padType === "custom") return custom;
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max(0, (out - 1) * stride + effective - size);
  const small = Math.floor(total / 2);
  return padType === "same" ? [small, total - small] : [total - small, small];
}

export function convOutputSize(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
  before: number,
  after: number,
): number {
  return Math.floor((size + before + after - (kernel - 1) * dilation - 1) / stride) + 1;
}

/**
 * One im2col column: the window of output position (oy, ox) over the `channels` planes of x
 * from `planeOffset` (one group of one image, each plane h × w), written to
 * out[offset + column · stride] with columns in the weight's (c, ky, kx) order. Positions in
 * the padding are skipped, so `out` must hold zeros there.
 */
export function writePatch(
  out: Float64Array,
  offset: number,
  stride: number,
  x: ArrayLike<number>,
  planeOffset: number,
  channels: number,
  [h, w]: readonly [number, number],
  win: Window2d,
  oy: number,
  ox: number,
): void {
  const [kh, kw] = win.kernel;
  const [pt, , pl] = win.pads;
  for (let c = 0; c < channels; c++) {
    const plane = planeOffset + c * h * w;
    for (let ky = 0; ky < kh; ky++) {
      const iy = oy * win.strides[0] - pt + ky * win.dilations[0];
      if (iy < 0 || iy >= h) continue;
      for (let kx = 0; kx < kw; kx++) {
        const ix = ox * win.strides[1] - pl + kx * win.dilations[1];
        if (ix < 0 || ix >= w) continue;
        out[offset + ((c * kh + ky) * kw + kx) * stride] = x[plane + iy * w + ix];
      }
    }
  }
}

/** im2col of one group of channels of one image: [C·KH·KW, OH·OW]. */
function unfold(
  x: Float32Array,
  offset: number,
  channels: number,
  h: number,
  w: number,
  win: Window2d,
  oh: number,
  ow: number,
): Float32Array {
  const [kh, kw] = win.kernel;
  const [sh, sw] = win.strides;
  const [dh, dw] = win.dilations;
  const [pt, , pl] = win.pads;
  const cols = new Float32Array(channels * kh * kw * oh * ow);
  let row = 0;
  for (let c = 0; c < channels; c++) {
    const plane = offset + c * h * w;
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++, row++) {
        const base = row * oh * ow;
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * sh + ky * dh - pt;
          if (iy < 0 || iy >= h) continue;
          const src = plane + iy * w;
          const dst = base + oy * ow;
          const ix0 = kx * dw - pl;
          for (let ox = 0; ox < ow; ox++) {
            const ix = ix0 + ox * sw;
            if (ix >= 0 && ix < w) cols[dst + ox] = x[src + ix];
          }
        }
      }
    }
  }
  return cols;
}

/** conv of x [N, C, H, W] with weight [O, C/groups, KH, KW]. */
export function conv2d(
  x: Dense,
  weight: Dense,
  bias: Float32Array | undefined,
  win: Window2d,
  groups: number,
  multiply: Gemm = gemm,
): Dense {
  const [n, c, h, w] = x.shape;
  const [o, cg, kh, kw] = weight.shape;
  const [pt, pb, pl, pr] = win.pads;
  const oh = convOutputSize(h, kh, win.strides[0], win.dilations[0], pt, pb);
  const ow = convOutputSize(w, kw, win.strides[1], win.dilations[1], pl, pr);
  const og = o / groups;
  const spatial = oh * ow;
  const out = new Float32Array(n * o * spatial);
  if (cg === 1 && og === 1) return depthwise(x, weight, bias, win, oh, ow);
  const pointwise =
    kh === 1 && kw === 1 && win.strides[0] === 1 && win.strides[1] === 1 && pt + pb + pl + pr === 0;
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      const inOffset = (b * c + g * cg) * h * w;
      const outOffset = (b * o + g * og) * spatial;
      if (bias)
        for (let oc = 0; oc < og; oc++)
          out.fill(bias[g * og + oc], outOffset + oc * spatial, outOffset + (oc + 1) * spatial);
      const patches = pointwise ? x.data : unfold(x.data, inOffset, cg, h, w, win, oh, ow);
      multiply(
        og,
        spatial,
        cg * kh * kw,
        weight.data,
        g * og * cg * kh * kw,
        false,
        patches,
        pointwise ? inOffset : 0,
        false,
        out,
        outOffset,
      );
    }
  }
  return { shape: [n, o, oh, ow], data: out };
}

/** Depthwise conv (one input and one output channel per group), without unfolding. */
function depthwise(
  x: Dense,
  weight: Dense,
  bias: Float32Array | undefined,
  win: Window2d,
  oh: number,
  ow: number,
): Dense {
  const [n, c, h, w] = x.shape;
  const [kh, kw] = win.kernel;
  const [sh, sw] = win.strides;
  const [dh, dw] = win.dilations;
  const [pt, , pl] = win.pads;
  const out = new Float32Array(n * c * oh * ow);
  const src = x.data;
  for (let plane = 0; plane < n * c; plane++) {
    const channel = plane % c;
    const inBase = plane * h * w;
    const outBase = plane * oh * ow;
    if (bias) out.fill(bias[channel], outBase, outBase + oh * ow);
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const wv = weight.data[(channel * kh + ky) * kw + kx];
        // Output columns whose input column lies inside the image.
        const xOffset = kx * dw - pl;
        const oxStart = Math.max(0, Math.ceil(-xOffset / sw));
        const oxEnd = Math.min(ow, Math.floor((w - 1 - xOffset) / sw) + 1);
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * sh + ky * dh - pt;
          if (iy < 0 || iy >= h) continue;
          const row = inBase + iy * w + xOffset;
          const dst = outBase + oy * ow;
          for (let ox = oxStart; ox < oxEnd; ox++) out[dst + ox] += wv * src[row + ox * sw];
        }
      }
    }
  }
  return { shape: [n, c, oh, ow], data: out };
}

/**
 * Transposed conv of x [N, C, H, W] with weight [C, O/groups, KH, KW]; `pads` are removed from
 * the full output, whose size is [outH, outW] (the op's declared or computed size).
 */
export function convTranspose2d(
  x: Dense,
  weight: Dense,
  bias: Float32Array | undefined,
  win: Window2d,
  groups: number,
  outSize: [number, number],
): Dense {
  const [n, c, h, w] = x.shape;
  const [, og, kh, kw] = weight.shape;
  const cg = c / groups;
  const o = og * groups;
  const [oh, ow] = outSize;
  const [sh, sw] = win.strides;
  const [dh, dw] = win.dilations;
  const [pt, , pl] = win.pads;
  const out = new Float32Array(n * o * oh * ow);
  const rows = og * kh * kw;
  const cols = new Float32Array(rows * h * w);
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < groups; g++) {
      cols.fill(0);
      gemm(
        rows,
        h * w,
        cg,
        weight.data,
        g * cg * rows,
        true,
        x.data,
        (b * c + g * cg) * h * w,
        false,
        cols,
        0,
      );
      // Scatter each kernel tap's contribution to its output position.
      let row = 0;
      for (let oc = 0; oc < og; oc++) {
        const plane = (b * o + g * og + oc) * oh * ow;
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++, row++) {
            for (let iy = 0; iy < h; iy++) {
              const y = iy * sh + ky * dh - pt;
              if (y < 0 || y >= oh) continue;
              for (let ix = 0; ix < w; ix++) {
                const xo = ix * sw + kx * dw - pl;
                if (xo >= 0 && xo < ow) out[plane + y * ow + xo] += cols[row * h * w + iy * w + ix];
              }
            }
          }
        }
      }
    }
  }
  if (bias) {
    for (let b = 0; b < n; b++) {
      for (let oc = 0; oc < o; oc++) {
        const plane = (b * o + oc) * oh * ow;
        for (let i = 0; i < oh * ow; i++) out[plane + i] += bias[oc];
      }
    }
  }
  return { shape: [n, o, oh, ow], data: out };
}

/** Output size of a pooling window, with ceil mode as MIL defines it. */
export function poolOutputSize(
  size: number,
  kernel: number,
  stride: number,
  before: number,
  after: number,
  ceil: boolean,
): number {
  if (!ceil) return Math.floor((size + before + after - kernel) / stride) + 1;
  let out = Math.floor((size + before + after - kernel + stride - 1) / stride) + 1;
  if ((out - 1) * stride >= size + before && before + after > 0) out--;
  return out;
}

/** max or average pooling of x [N, C, H, W] to [N, C, outH, outW]. */
export function pool2d(
  x: Dense,
  win: Window2d,
  outSize: [number, number],
  kind: "max" | "avg",
  excludePadding: boolean,
  allocate: Allocate = freshArray,
): Dense {
  const [n, c, h, w] = x.shape;
  const [oh, ow] = outSize;
  const [kh, kw] = win.kernel;
  const [sh, sw] = win.strides;
  const [pt, , pl] = win.pads;
  const out = allocate(n * c * oh * ow);
  const src = x.data;
  for (let plane = 0; plane < n * c; plane++) {
    const base = plane * h * w;
    const dst = plane * oh * ow;
    for (let oy = 0; oy < oh; oy++) {
      // The window's rows and columns inside the image, in order.
      const y0 = oy * sh - pt;
      const kyStart = Math.max(0, -y0);
      const kyEnd = Math.min(kh, h - y0);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - pl;
        const kxStart = Math.max(0, -x0);
        const kxEnd = Math.min(kw, w - x0);
        let acc = kind === "max" ? -Infinity : 0;
        for (let ky = kyStart; ky < kyEnd; ky++) {
          const row = base + (y0 + ky) * w + x0;
          if (kind === "max") {
            for (let kx = kxStart; kx < kxEnd; kx++) if (src[row + kx] > acc) acc = src[row + kx];
          } else for (let kx = kxStart; kx < kxEnd; kx++) acc += src[row + kx];
        }
        const count = Math.max(0, kyEnd - kyStart) * Math.max(0, kxEnd - kxStart);
        out[dst + oy * ow + ox] =
          kind === "max" ? acc : acc / (excludePadding ? Math.max(count, 1) : kh * kw);
      }
    }
  }
  return { shape: [n, c, oh, ow], data: out };
}
