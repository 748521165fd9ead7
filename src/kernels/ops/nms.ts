/** Greedy non-maximum suppression of boxes given as centre and size (x, y, width, height). */

/** Intersection over union of boxes a and b of `boxes` (four values each). */
function iou(boxes: Float32Array, a: number, b: number): number {
  const edges = (i: number) => {
    const [x, y, w, h] = boxes.subarray(4 * i, 4 * i + 4);
    return [x - w / 2, y - h / 2, x + w / 2, y + h / 2, w * h];
  };
  const [ax0, ay0, ax1, ay1, areaA] = edges(a);
  const [bx0, by0, bx1, by1, areaB] = edges(b);
  const overlap =
    Math.max(0, Math.min(ax1, bx1) - Math.max(ax0, bx0)) *
    Math.max(0, Math.min(ay1, by1) - Math.max(ay0, by0));
  const union = areaA + areaB - overlap;
  return union > 0 ? overlap / union : 0;
}

export interface NmsOptions {
  iouThreshold: number;
  scoreThreshold: number;
  maxBoxes: number;
  /** Suppress only among boxes whose best class is the same. */
  perClass: boolean;
}

/**
 * The boxes kept, best score first: boxes [N, 4] and scores [N, C] of one batch item; a box's
 * score is its best class score. Boxes scoring below the threshold are dropped; a box whose IoU
 * with a kept one exceeds the IoU threshold is suppressed. When nothing scores enough, the best
 * box alone.
 */
export function nonMaximumSuppression(
  boxes: Float32Array,
  scores: Float32Array,
  classes: number,
  options: NmsOptions,
): number[] {
  const count = boxes.length / 4;
  const best = new Float32Array(count);
  const bestClass = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    let k = 0;
    for (let c = 1; c < classes; c++) if (scores[n * classes + c] > scores[n * classes + k]) k = c;
    best[n] = scores[n * classes + k];
    bestClass[n] = k;
  }
  // A stable sort keeps the lower index first among equal scores.
  const order = Array.from({ length: count }, (_, n) => n).sort((a, b) => best[b] - best[a]);
  const kept: number[] = [];
  for (const n of order) {
    if (kept.length >= options.maxBoxes || best[n] < options.scoreThreshold) break;
    const suppressed = kept.some(
      (k) =>
        (!options.perClass || bestClass[k] === bestClass[n]) &&
        iou(boxes, k, n) > options.iouThreshold,
    );
    if (!suppressed) kept.push(n);
  }
  return kept.length === 0 && count > 0 ? [order[0]] : kept;
}
