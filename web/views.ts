/** The page's views of a model, a compression's result and an output comparison. */
import type { ModelSummary, OutputComparison } from "../src/browser.js";
import { formatBytes, formatNumber, percent } from "./describe.js";
import { h, table } from "./dom.js";
import type { CompressReport, WeightRow } from "./protocol.js";

const shape = (dims: readonly number[]) => `[${dims.join(", ")}]`;

/** inspect's information: overview, inputs and outputs, ops per function, every weight. */
export function modelView(name: string, size: number, s: ModelSummary): HTMLElement {
  const fragment = h("div");
  fragment.append(
    table(
      "Overview",
      ["model", "format", "type", "specification", "deployment target", "files", "weights"],
      [
        [
          name,
          s.format,
          s.type,
          String(s.specificationVersion),
          s.deploymentTarget,
          formatBytes(size),
          `${s.totals.weights} (${s.totals.compressed} compressed), ${formatBytes(s.totals.storedBytes)}`,
        ],
      ],
    ),
  );
  if (s.models.length > 1) {
    fragment.append(
      table(
        "Models of the pipeline",
        ["path", "type", "specification"],
        s.models.map((m) => [m.path || "(root)", m.type, String(m.specificationVersion)]),
      ),
    );
  }
  fragment.append(
    h(
      "div",
      { class: "columns" },
      table(
        "Inputs",
        ["name", "type"],
        s.inputs.map((f) => [f.name, f.type]),
      ),
      table(
        "Outputs",
        ["name", "type"],
        s.outputs.map((f) => [f.name, f.type]),
      ),
    ),
  );
  for (const fn of s.functions) {
    const ops = Object.entries(fn.opCounts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const total = ops.reduce((n, [, count]) => n + count, 0);
    const where = fn.model ? `${fn.model}/` : "";
    fragment.append(
      h(
        "details",
        {},
        h("summary", {}, `Function ${where}${fn.name} (${fn.opset}): ${total} ops`),
        table(`Ops of ${where}${fn.name}`, ["op type", "count"], ops, [1]),
      ),
    );
  }
  if (s.weights.length > 0) {
    fragment.append(
      h(
        "details",
        { open: s.weights.length <= 40 },
        h("summary", {}, `Weights (${s.weights.length})`),
        table(
          "Weights",
          ["name", "consumers", "dtype", "shape", "storage", "dense", "stored"],
          s.weights.map((w) => [
            w.model ? `${w.model}/${w.name}` : w.name,
            w.consumers.join(", "),
            w.dtype,
            shape(w.shape),
            w.storage.length === 0
              ? "dense"
              : w.storage.map((step) => step.description).join(" → "),
            formatBytes(w.denseBytes),
            formatBytes(w.storedBytes),
          ]),
          [5, 6],
        ),
      ),
    );
  }
  return fragment;
}

/** Sizes before and after, and how long it took. */
export function resultSummary(report: CompressReport): HTMLElement {
  const saved = 1 - report.sizeAfter / report.sizeBefore;
  return h(
    "p",
    { class: "sizes" },
    h("strong", {}, `${formatBytes(report.sizeBefore)} → ${formatBytes(report.sizeAfter)}`),
    ` (${percent(saved)} smaller; ${report.weights.length} weights compressed in ${report.seconds.toFixed(1)} s)`,
  );
}

export function weightsTable(weights: readonly WeightRow[]): HTMLElement {
  const passes = new Set(weights.map((w) => w.pass));
  const before = weights.reduce((n, w) => n + w.bytesBefore, 0);
  const after = weights.reduce((n, w) => n + w.bytesAfter, 0);
  const rows = weights.map((w) => [
    ...(passes.size > 1 ? [w.pass] : []),
    w.name,
    w.type,
    w.config,
    formatBytes(w.bytesBefore),
    formatBytes(w.bytesAfter),
    formatNumber(w.snrDb),
  ]);
  const headers = [
    ...(passes.size > 1 ? ["step"] : []),
    "weight",
    "type",
    "config",
    "before",
    "after",
    "SNR dB",
  ];
  const offset = passes.size > 1 ? 1 : 0;
  rows.push([
    ...(passes.size > 1 ? [""] : []),
    "total",
    `${weights.length} weights`,
    "",
    formatBytes(before),
    formatBytes(after),
    "",
  ]);
  return h(
    "details",
    { open: weights.length <= 40 },
    h("summary", {}, `Compressed weights (${weights.length})`),
    table("Compressed weights", headers, rows, [offset + 3, offset + 4, offset + 5]),
  );
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attributes: Record<string, string | number>, text?: string): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Most weights the chart shows (the largest); the table lists them all. */
const CHART_ROWS = 48;

/**
 * Bars of each weight's size before and after on one scale, and of its SNR on another: an
 * SVG drawn here, since one chart does not need a charting library.
 */
export function weightsChart(weights: readonly WeightRow[]): SVGElement {
  // The last step's report of a weight is what it ends as.
  const byName = new Map<string, WeightRow>();
  for (const w of weights) {
    const first = byName.get(w.name);
    byName.set(w.name, first ? { ...w, bytesBefore: first.bytesBefore } : w);
  }
  const rows = [...byName.values()]
    .sort((a, b) => b.bytesBefore - a.bytesBefore)
    .slice(0, CHART_ROWS);
  const label = 220;
  const sizeWidth = 300;
  const gap = 70;
  const snrWidth = 200;
  const rowHeight = 18;
  const top = 28;
  const width = label + sizeWidth + gap + snrWidth + 40;
  const height = top + rows.length * rowHeight + 8;
  const maxBytes = Math.max(1, ...rows.map((w) => w.bytesBefore));
  const finite = rows
    .map((w) => w.snrDb)
    .filter((v): v is number => v !== undefined && Number.isFinite(v));
  const maxSnr = Math.max(10, ...finite);
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    role: "img",
    "aria-label": `Size before and after, and SNR, of the ${rows.length} largest compressed weights`,
    class: "chart",
  });
  chart.append(
    svg("text", { x: label, y: 16, class: "axis" }, `size (largest ${formatBytes(maxBytes)})`),
    svg(
      "text",
      { x: label + sizeWidth + gap, y: 16, class: "axis" },
      `SNR dB (0–${maxSnr.toFixed(0)})`,
    ),
  );
  rows.forEach((w, i) => {
    const y = top + i * rowHeight;
    const name = w.name.length > 32 ? `…${w.name.slice(-31)}` : w.name;
    const group = svg("g", {});
    group.append(
      svg(
        "title",
        {},
        `${w.name}: ${formatBytes(w.bytesBefore)} → ${formatBytes(w.bytesAfter)}, SNR ${formatNumber(w.snrDb)} dB`,
      ),
      svg("text", { x: label - 6, y: y + 12, class: "name", "text-anchor": "end" }, name),
      svg("rect", {
        x: label,
        y: y + 2,
        height: rowHeight - 4,
        width: (w.bytesBefore / maxBytes) * sizeWidth,
        class: "before",
      }),
      svg("rect", {
        x: label,
        y: y + 2,
        height: rowHeight - 4,
        width: Math.max(1, (w.bytesAfter / maxBytes) * sizeWidth),
        class: "after",
      }),
    );
    if (w.snrDb !== undefined) {
      const snr = Number.isFinite(w.snrDb) ? Math.max(0, w.snrDb) : maxSnr;
      group.append(
        svg("rect", {
          x: label + sizeWidth + gap,
          y: y + 2,
          height: rowHeight - 4,
          width: Math.max(1, (snr / maxSnr) * snrWidth),
          class: "snr",
        }),
        svg(
          "text",
          { x: label + sizeWidth + gap + (snr / maxSnr) * snrWidth + 4, y: y + 12, class: "value" },
          formatNumber(w.snrDb),
        ),
      );
    }
    chart.append(group);
  });
  return chart;
}

/** The CLI's `compare` table. */
export function comparisonTable(
  outputs: readonly OutputComparison[],
  samples: number,
): HTMLElement {
  return table(
    `Outputs of the compressed model against the original on ${samples} random inputs`,
    ["output", "SNR dB", "PSNR dB", "cosine", "max error", "MSE", "top-1", "top-5"],
    outputs.map((o) =>
      o.labels
        ? [o.name, "", "", "", "", "", percent(o.top1Agreement), ""]
        : [
            o.name,
            formatNumber(o.snrDb),
            formatNumber(o.psnrDb),
            o.cosine.toFixed(6),
            o.maxAbsError.toPrecision(4),
            o.mse.toPrecision(4),
            percent(o.top1Agreement),
            percent(o.top5Agreement),
          ],
    ),
    [1, 2, 3, 4, 5, 6, 7],
  );
}
