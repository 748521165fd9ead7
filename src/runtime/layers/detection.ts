/** Detection: non-maximum suppression of a batch of boxes. */
import { nonMaximumSuppression } from "../../kernels/ops/nms.js";
import { num, paramsOf, unsupported, type LayerCompiler } from "./params.js";

/**
 * Inputs boxes [B, N, 4] (centre and size), scores [B, N, C] and optionally the IoU and score
 * thresholds and the box count; outputs the kept boxes [B, max, 4], their scores [B, max, C],
 * their indices [B, max] (padded with zeros, and −1 for indices) and their count [B].
 */
const nonMaximumSuppressionLayer: LayerCompiler = (layer) => {
  const p = paramsOf(layer, "NonMaximumSuppression");
  return ([boxes, scores, iou, threshold, most]) => {
    if (!scores || boxes.shape.length !== 3 || boxes.shape[2] !== 4) {
      throw unsupported(layer, "needs boxes [B, N, 4] and scores [B, N, C]");
    }
    const [batch, count] = boxes.shape;
    const classes = scores.data.length / (batch * count);
    const options = {
      iouThreshold: iou ? iou.data[0] : p.iouThreshold,
      scoreThreshold: threshold ? threshold.data[0] : p.scoreThreshold,
      maxBoxes: most ? Math.trunc(most.data[0]) : num(p.maxBoxes),
      perClass: p.perClassSuppression,
    };
    const max = options.maxBoxes;
    const keptBoxes = new Float32Array(batch * max * 4);
    const keptScores = new Float32Array(batch * max * classes);
    const indices = new Float32Array(batch * max).fill(-1);
    const counts = new Float32Array(batch);
    for (let b = 0; b < batch; b++) {
      const kept = nonMaximumSuppression(
        boxes.data.subarray(b * count * 4, (b + 1) * count * 4),
        scores.data.subarray(b * count * classes, (b + 1) * count * classes),
        classes,
        options,
      ).slice(0, max);
      counts[b] = kept.length;
      kept.forEach((n, k) => {
        const at = b * max + k;
        keptBoxes.set(boxes.data.subarray((b * count + n) * 4, (b * count + n + 1) * 4), at * 4);
        keptScores.set(
          scores.data.subarray((b * count + n) * classes, (b * count + n + 1) * classes),
          at * classes,
        );
        indices[at] = n;
      });
    }
    return [
      { shape: [batch, max, 4], data: keptBoxes },
      { shape: [batch, max, classes], data: keptScores },
      { shape: [batch, max], data: indices },
      { shape: [batch], data: counts },
    ];
  };
};

export const DETECTION_LAYERS = {
  NonMaximumSuppression: nonMaximumSuppressionLayer,
} satisfies Record<string, LayerCompiler>;
