import type { Command } from "commander";
import { decompressWeights } from "../../passes/decompress.js";
import { createProgress } from "../progress.js";
import { checkOutput, printJson, withModel } from "../run.js";
import { modelKindOf } from "../../format/output-path.js";

export interface DecompressReport {
  input: string;
  output: string;
  /** Constexpr ops evaluated by op type, and neural-network weights by storage. */
  decompressed: Record<string, number>;
}

export function registerDecompress(program: Command): void {
  program
    .command("decompress")
    .description(
      "turn every compressed weight (constexpr ops, quantized neural-network layers) back into dense floats",
    )
    .argument("<model>", ".mlpackage folder or .mlmodel file")
    .requiredOption("-o, --output <path>", "where to write the decompressed model")
    .option("--json", "print machine-readable JSON")
    .option("-q, --quiet", "no progress bar")
    .action(async (input: string, options: { output: string; json?: boolean; quiet?: boolean }) => {
      await checkOutput(options.output, modelKindOf(options.output), [input]);
      const report: DecompressReport = { input, output: options.output, decompressed: {} };
      const progress = createProgress("decompress", options.quiet || options.json);
      try {
        await withModel(input, async (model) => {
          const dense = await decompressWeights(model, {
            onProgress: ({ done, total, name }) => progress.update(done, total, name),
            onDecompressed: ({ type }) => {
              report.decompressed[type] = (report.decompressed[type] ?? 0) + 1;
            },
          });
          try {
            await dense.save(options.output);
          } finally {
            await dense.close();
          }
        });
      } finally {
        progress.stop();
      }
      if (options.json) printJson(report);
      else process.stdout.write(`${describe(report)}\n`);
    });
}

function describe(report: DecompressReport): string {
  const counts = Object.entries(report.decompressed).sort((a, b) => a[0].localeCompare(b[0]));
  const total = counts.reduce((n, [, c]) => n + c, 0);
  if (total === 0) return `no compressed weights in ${report.input}; copied to ${report.output}`;
  const detail = counts.map(([type, count]) => `${type} ×${count}`).join(", ");
  return `decompressed ${total} weights (${detail}) into ${report.output}`;
}
