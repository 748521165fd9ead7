/** `coreml-optimize decompress IN -o OUT`: every compressed weight back to dense floats. */
import type { Command } from "commander";
import { decompressWeights, type DecompressedOp } from "../../passes/decompress.js";
import { FUNCTION_OPTION, outputOptions, runWrite, type OutputFlags } from "../write-command.js";
import type { ReportedWeight } from "../report.js";

export function registerDecompress(program: Command): void {
  const command = program
    .command("decompress")
    .description(
      "Turn every compressed weight (constexpr ops, quantized neural-network layers) back into dense floats.",
    )
    .argument("<input>", "model (.mlpackage or .mlmodel)");
  outputOptions(command, "decompressed")
    .option(...FUNCTION_OPTION)
    .addHelpText(
      "after",
      `
Example:
  coreml-optimize decompress model-int4.mlpackage -o model-dense.mlpackage`,
    )
    .action(async (input: string, flags: OutputFlags & { function?: string }) => {
      await runWrite({
        command: "decompress",
        input,
        flags,
        verb: "decompressed",
        work: async (model, onProgress) => {
          const decompressed: DecompressedOp[] = [];
          const dense = await decompressWeights(model, {
            onProgress,
            functionName: flags.function,
            onDecompressed: (op) => decompressed.push(op),
          });
          const weights: ReportedWeight[] = decompressed
            .filter((op) => op.weight)
            .sort((a, b) => a.name.localeCompare(b.name))
            .map((op) => ({
              name: op.name,
              shape: [...op.shape],
              config: { decompressed_from: op.type },
              bytesBefore: op.bytesBefore,
              bytesAfter: op.bytesAfter,
              snrDb: null,
            }));
          return { model: dense, weights, skipped: [] };
        },
      });
    });
}
