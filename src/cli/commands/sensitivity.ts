/** `coreml-optimize sensitivity MODEL`: what compressing each weight alone does to the outputs. */
import type { Command } from "commander";
import { parseCandidatesText } from "../../analysis/candidates.js";
import { measureSensitivity, type Candidate } from "../../analysis/sensitivity.js";
import { readRegularFile } from "../../format/user-files.js";
import { loadRunner } from "../../runtime/runner.js";
import { sampleOptions, samplesFromFlags, type SampleFlags } from "../inputs.js";
import { createProgress } from "../progress.js";
import { renderSensitivity } from "../quality-report.js";
import { printJson, withInterpreterPool, withModel } from "../run.js";

export interface CandidateFlags {
  candidates?: string;
}

/** The candidates of `--candidates FILE`; undefined: the model kind's default set. */
export async function candidatesFromFlags(flags: CandidateFlags): Promise<Candidate[] | undefined> {
  if (!flags.candidates) return undefined;
  const text = new TextDecoder().decode(await readRegularFile(flags.candidates));
  return parseCandidatesText(text, flags.candidates);
}

export const CANDIDATES_OPTION = [
  "--candidates <file>",
  "YAML or JSON `candidates:` list of configs to try, each with a `label` (default: int8 per channel, 6/4/3/2-bit k-means, and for ML programs int4 per block 32)",
] as const;

interface SensitivityFlags extends SampleFlags, CandidateFlags {
  json?: boolean;
  quiet?: boolean;
}

export function registerSensitivity(program: Command): void {
  const command = program
    .command("sensitivity")
    .description(
      "compress each weight alone with each candidate config and measure the change in the model's output (SNR; top-1 agreement and KL for class scores)",
    )
    .argument("<model>", "ML program (.mlpackage) or neural network (.mlmodel)")
    .option(...CANDIDATES_OPTION)
    .option("--json", "print machine-readable JSON")
    .option("-q, --quiet", "no progress bar");
  sampleOptions(command).action(async (modelPath: string, flags: SensitivityFlags) => {
    const candidates = await candidatesFromFlags(flags);
    const progress = createProgress("sensitivity", flags.quiet || flags.json);
    const table = await withInterpreterPool((pool) =>
      withModel(modelPath, async (model) => {
        const { inputs } = await loadRunner(model);
        const samples = await samplesFromFlags(flags, inputs);
        return measureSensitivity(model, samples, {
          pool,
          candidates,
          onProgress: (event) => progress.update(event),
        });
      }),
    ).finally(() => progress.stop());
    if (flags.json) printJson({ model: modelPath, ...table });
    else process.stdout.write(`${renderSensitivity(table)}\n`);
  });
}
