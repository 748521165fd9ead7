import type { Command } from "commander";
import { inspectModel, type ModelSummary } from "../../analysis/inspect.js";
import { formatBytes, formatTable } from "../format.js";
import { printJson, withModel } from "../run.js";

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("show a model's format, inputs and outputs, ops and every weight with its storage")
    .argument("<model>", ".mlpackage folder or .mlmodel file")
    .option("--json", "print machine-readable JSON")
    .action(async (path: string, options: { json?: boolean }) => {
      const summary = await withModel(path, inspectModel);
      if (options.json) printJson(summary);
      else process.stdout.write(renderSummary(path, summary));
    });
}

function renderSummary(path: string, s: ModelSummary): string {
  const out: string[] = [];
  out.push(`${path}`);
  out.push(
    `  format: ${s.format}, type: ${s.type}, specification version ${s.specificationVersion} (${s.deploymentTarget})`,
  );
  if (s.models.length > 1) {
    out.push("", "Models:");
    out.push(
      formatTable(
        ["path", "type", "spec"],
        s.models.map((m) => [m.path || "(root)", m.type, String(m.specificationVersion)]),
      ),
    );
  }
  out.push("", "Inputs:");
  out.push(...s.inputs.map((f) => `  ${f.name}: ${f.type}`));
  out.push("Outputs:");
  out.push(...s.outputs.map((f) => `  ${f.name}: ${f.type}`));
  for (const fn of s.functions) {
    const where = fn.model ? `${fn.model}/` : "";
    const ops = Object.entries(fn.opCounts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    out.push(
      "",
      `Function ${where}${fn.name} (${fn.opset}): ${ops.reduce((n, [, c]) => n + c, 0)} ops`,
    );
    out.push(`  ${ops.map(([type, count]) => `${type} ×${count}`).join(", ")}`);
  }
  if (s.weights.length > 0) {
    out.push("", "Weights:");
    out.push(
      formatTable(
        ["name", "consumers", "dtype", "shape", "storage", "dense", "stored"],
        s.weights.map((w) => [
          w.model ? `${w.model}/${w.name}` : w.name,
          w.consumers.join(", "),
          w.dtype,
          `[${w.shape.join(",")}]`,
          w.storage.length ? w.storage.map((step) => step.description).join(" ← ") : "dense",
          formatBytes(w.denseBytes),
          formatBytes(w.storedBytes),
        ]),
        ["left", "left", "left", "left", "left", "right", "right"],
      ),
    );
  }
  const t = s.totals;
  const ratio =
    t.compressed > 0 && t.storedBytes > 0
      ? ` (${(t.denseBytes / t.storedBytes).toFixed(2)}× smaller)`
      : "";
  out.push(
    "",
    `Total: ${t.weights} weights, ${t.compressed} compressed; ${formatBytes(t.denseBytes)} dense, ${formatBytes(t.storedBytes)} stored${ratio}; weight files ${formatBytes(t.weightFileBytes)}`,
  );
  return `${out.join("\n")}\n`;
}
