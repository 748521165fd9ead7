/** Bilinear resampling of the last two axes, on the sampling grids Core ML's layers and ops use. */
import type { Dense } from "./elementwise.js";

/**
 * Where output i of `out` samples an input axis of `size` (clamped to the input):
 * - align_corners: numpy.linspace(0, size - 1, out) (first and last samples on the corners);
 * - align_endpoints: the same, but a single output samples the middle;
 * - half_pixel: pixel centres, (i + 0.5)·size/out − 0.5;
 * - upsample: numpy.linspace(0, size − size/out, out) (the NN upsample layer's default);
 * - roi_align: spacing max(1, size − 1)/out, starting half a spacing in.
 */
export type BilinearGrid =
  "align_corners" | "align_endpoints" | "half_pixel" | "upsample" | "roi_align";

const linspace = (start: number, end: number, out: number, i: number) =>
  out > 1 ? start + (i * (end - start)) / (out - 1) : start;

const GRIDS: Record<BilinearGrid, (i: number, size: number, out: number) => number> = {
  align_corners: (i, size, out) => linspace(0, size - 1, out, i),
  align_endpoints: (i, size, out) => (out > 1 ? linspace(0, size - 1, out, i) : (size - 1) / 2),
  half_pixel: (i, size, out) => ((i + 0.5) * size) / out - 0.5,
  upsample: (i, size, out) => linspace(0, size - size / out, out, i),
  roi_align: (i, size, out) => {
    const spacing = Math.max(1, size - 1) / out;
    return 0.5 * spacing + i * spacing;
  },
};

function gridPoints(grid: BilinearGrid, size: number, out: number): Float64Array {
  const at = GRIDS[grid];
  return Float64Array.from({ length: out }, (_, i) =>
    Math.min(size - 1, Math.max(0, at(i, size, out))),
  );
}

/** Bilinear samples of the [h, w] plane at `base` of `src`, at rows `ys` and columns `xs`. */
function samplePlane(
  src: Float32Array,
  base: number,
  h: number,
  w: number,
  ys: Float64Array,
  xs: Float64Array,
  out: Float32Array,
  at: number,
): void {
  for (let oy = 0; oy < ys.length; oy++) {
    const y0 = Math.floor(ys[oy]);
    const y1 = Math.min(h - 1, y0 + 1);
    const fy = ys[oy] - y0;
    for (let ox = 0; ox < xs.length; ox++) {
      const x0 = Math.floor(xs[ox]);
      const x1 = Math.min(w - 1, x0 + 1);
      const fx = xs[ox] - x0;
      const top = src[base + y0 * w + x0] * (1 - fx) + src[base + y0 * w + x1] * fx;
      const bottom = src[base + y1 * w + x0] * (1 - fx) + src[base + y1 * w + x1] * fx;
      out[at + oy * xs.length + ox] = top * (1 - fy) + bottom * fy;
    }
  }
}

/** x [..., H, W] resampled bilinearly to [..., outH, outW]. */
export function bilinearResize(x: Dense, outH: number, outW: number, grid: BilinearGrid): Dense {
  const rank = x.shape.length;
  const h = x.shape[rank - 2] ?? 1;
  const w = x.shape[rank - 1];
  const ys = gridPoints(grid, h, outH);
  const xs = gridPoints(grid, w, outW);
  const planes = x.data.length / (h * w);
  const out = new Float32Array(planes * outH * outW);
  for (let p = 0; p < planes; p++)
    samplePlane(x.data, p * h * w, h, w, ys, xs, out, p * outH * outW);
  return { shape: [...x.shape.slice(0, -2), outH, outW], data: out };
}

/**
 * The box [y0, x0, y1, x1] (pixel coordinates) of every plane of x [C, H, W], resampled to
 * [C, outH, outW]: the grid spans the box as it would an input of size y1 − y0 + 1, and
 * samples outside the image are clamped to its edge.
 */
export function cropAndResize(
  x: Dense,
  box: readonly [number, number, number, number],
  outH: number,
  outW: number,
  grid: BilinearGrid,
): Dense {
  const [c, h, w] = x.shape;
  const [y0, x0, y1, x1] = box;
  const along = (start: number, length: number, size: number, out: number) =>
    Float64Array.from({ length: out }, (_, i) =>
      Math.min(size - 1, Math.max(0, start + GRIDS[grid](i, length + 1, out))),
    );
  const ys = along(y0, y1 - y0, h, outH);
  const xs = along(x0, x1 - x0, w, outW);
  const out = new Float32Array(c * outH * outW);
  for (let p = 0; p < c; p++) samplePlane(x.data, p * h * w, h, w, ys, xs, out, p * outH * outW);
  return { shape: [c, outH, outW], data: out };
}
