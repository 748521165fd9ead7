/**
 * 3-D convolution and pooling of x [N, C, D, H, W], by direct sums over each window (the
 * layers that use them are rare and small; the 2-D kernels in conv.ts are the fast ones).
 */
import type { Dense } from "./elementwise.js";

export interface Window3d {
  kernel: [number, number, number];
  strides: [number, number, number];
  dilations: [number, number, number];
  /** Before and after, per axis: [front, back, top, bottom, left, right]. */
  pads: [number, number, number, number, number, number];
}

/** Output size of each spatial axis. */
export function windowOutput(size: readonly number[], win: Window3d): [number, number, number] {
  const axis = (i: number) =>
    Math.floor(
      (size[i] +
        win.pads[2 * i] +
        win.pads[2 * i + 1] -
        (win.kernel[i] - 1) * win.dilations[i] -
        1) /
        win.strides[i],
    ) + 1;
  return [axis(0), axis(1), axis(2)];
}

/** Visits the in-range input positions of output window (od, oh, ow): visit(offset, k). */
function forWindow(
  size: readonly number[],
  win: Window3d,
  [od, oh, ow]: [number, number, number],
  visit: (offset: number, k: number) => void,
): void {
  const [d, h, w] = size;
  const [kd, kh, kw] = win.kernel;
  for (let a = 0; a < kd; a++) {
    const z = od * win.strides[0] + a * win.dilations[0] - win.pads[0];
    if (z < 0 || z >= d) continue;
    for (let b = 0; b < kh; b++) {
      const y = oh * win.strides[1] + b * win.dilations[1] - win.pads[2];
      if (y < 0 || y >= h) continue;
      for (let c = 0; c < kw; c++) {
        const x = ow * win.strides[2] + c * win.dilations[2] - win.pads[4];
        if (x < 0 || x >= w) continue;
        visit((z * h + y) * w + x, (a * kh + b) * kw + c);
      }
    }
  }
}

/** conv of x [N, C, D, H, W] with weight [O, C/groups, KD, KH, KW]. */
export function conv3d(
  x: Dense,
  weight: Dense,
  bias: Float32Array | undefined,
  win: Window3d,
  groups: number,
): Dense {
  const [n, c, ...size] = x.shape;
  const [o, cg] = weight.shape;
  const out = windowOutput(size, win);
  const plane = size[0] * size[1] * size[2];
  const outPlane = out[0] * out[1] * out[2];
  const taps = win.kernel[0] * win.kernel[1] * win.kernel[2];
  const data = new Float32Array(n * o * outPlane);
  const perGroup = o / groups;
  for (let b = 0; b < n; b++) {
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / perGroup);
      for (let p = 0; p < outPlane; p++) {
        const at: [number, number, number] = [
          Math.floor(p / (out[1] * out[2])),
          Math.floor(p / out[2]) % out[1],
          p % out[2],
        ];
        let sum = bias?.[oc] ?? 0;
        for (let ic = 0; ic < cg; ic++) {
          const src = (b * c + g * cg + ic) * plane;
          const kernel = (oc * cg + ic) * taps;
          forWindow(size, win, at, (offset, k) => {
            sum += x.data[src + offset] * weight.data[kernel + k];
          });
        }
        data[(b * o + oc) * outPlane + p] = sum;
      }
    }
  }
  return { shape: [n, o, ...out], data };
}

/** Max or average pooling of x [N, C, D, H, W] over zero padding (averages may leave it out). */
export function pool3d(
  x: Dense,
  win: Window3d,
  kind: "max" | "avg",
  excludePadding: boolean,
): Dense {
  const [n, c, ...size] = x.shape;
  const out = windowOutput(size, win);
  const plane = size[0] * size[1] * size[2];
  const outPlane = out[0] * out[1] * out[2];
  const taps = win.kernel[0] * win.kernel[1] * win.kernel[2];
  const data = new Float32Array(n * c * outPlane);
  for (let q = 0; q < n * c; q++) {
    for (let p = 0; p < outPlane; p++) {
      const at: [number, number, number] = [
        Math.floor(p / (out[1] * out[2])),
        Math.floor(p / out[2]) % out[1],
        p % out[2],
      ];
      let acc = kind === "max" ? -Infinity : 0;
      let count = 0;
      forWindow(size, win, at, (offset) => {
        const v = x.data[q * plane + offset];
        acc = kind === "max" ? Math.max(acc, v) : acc + v;
        count++;
      });
      // Padding is zeros: a max over a window reaching into it counts a zero.
      if (kind === "max") data[q * outPlane + p] = count < taps ? Math.max(acc, 0) : acc;
      else data[q * outPlane + p] = acc / (excludePadding ? count : taps);
    }
  }
  return { shape: [n, c, ...out], data };
}
