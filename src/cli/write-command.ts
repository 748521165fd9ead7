/**
 * What every command that writes a model shares: its common options (`-o`, `--dry-run`,
 * `--allow-empty`, `--check`, `--json`, `--quiet`), checking the output path before any work,
 * loading the input, running the work with a progress bar, refusing a run that changed nothing,
 * checking the result against the input before it is written, saving atomically, and printing
 * the one report (report.ts).
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { ConfigError } from "../errors.js";
import type { MLModel } from "../format/model.js";
import { modelKindOf } from "../format/output-path.js";
import { encodeModel } from "../format/ml-model.js";
import type { ProgressCallback } from "../progress.js";
import { checkResult } from "./check.js";
import { parseInteger } from "./flags.js";
import { createProgress } from "./progress.js";
import { nothingDone, renderReport, type CommandReport } from "./report.js";
import { checkOutput, printJson, withModel } from "./run.js";

/** The options every writing command takes. */
export interface OutputFlags {
  output?: string;
  dryRun?: boolean;
  allowEmpty?: boolean;
  check?: string;
  json?: boolean;
  quiet?: boolean;
}

/** Registers the options every writing command takes, with one wording. */
export function outputOptions(command: Command, what: string): Command {
  return command
    .option("-o, --output <path>", `where to write the ${what} model (required unless --dry-run)`)
    .option("--dry-run", "compress and report, but write nothing")
    .option("--allow-empty", `exit 0 even when nothing was ${what}`)
    .option(
      "--check <n>",
      "compare the result with the input on n seeded random samples before writing it",
    )
    .option("--json", "print the report as JSON (see the README for its fields)")
    .option("-q, --quiet", "no progress bar");
}

/** `--workers N` of the commands whose kernels run on worker threads. */
export const WORKERS_OPTION = [
  "--workers <n>",
  "worker threads for the kernels (default: one per core for models of 64 MB or more; 0: none)",
] as const;

export function parseWorkers(text: string | undefined): number | undefined {
  return text === undefined ? undefined : parseInteger(text, "--workers");
}

/** `--function NAME` of the commands that rewrite ML programs (multifunction models). */
export const FUNCTION_OPTION = [
  "--function <name>",
  "work on this function of a multifunction model only (default: every function)",
] as const;

/** `--target`: raise an older model's deployment target first. */
export function targetOption(command: Command, needed: string): Command {
  return command.option(
    "--target <target>",
    `raise the model's deployment target to at least this first (${needed})`,
  );
}

/** What a command's work produced, before it is saved. */
export interface WorkResult {
  model: MLModel;
  weights: CommandReport["weights"];
  skipped: CommandReport["skipped"];
  warnings?: string[];
  hints?: string[];
  /** Command-specific report fields. */
  extra?: Record<string, unknown>;
  /** How many things were changed, when not the weights (e.g. activations quantized). */
  changed?: number;
  /** Text shown before the closing lines (e.g. the activations' table). */
  text?: string;
}

export interface WriteRun {
  command: string;
  input: string;
  flags: OutputFlags;
  /** Other files or folders the command reads (config files, calibration data, ...). */
  otherInputs?: (string | undefined)[];
  /** Past participle for the report ("compressed", "decompressed", ...). */
  verb?: string;
  /** Progress bar title (default: the command). */
  title?: string;
  work(model: MLModel, onProgress: ProgressCallback): Promise<WorkResult>;
}

/** Bytes of a file, or of every file in a folder. */
async function diskSize(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await diskSize(join(path, entry));
  return total;
}

/** What a model not yet saved would take: its spec and weight files. */
async function modelSize(model: MLModel): Promise<number> {
  let total = encodeModel(model.spec).length;
  for (const source of model.weightFiles.values()) {
    const reader = await source.open();
    total += reader.size;
    await reader.close();
  }
  return total;
}

/** Runs a writing command end to end and prints its report; returns the report. */
export async function runWrite(run: WriteRun): Promise<CommandReport> {
  const { flags } = run;
  const output = flags.dryRun ? undefined : flags.output;
  if (!flags.dryRun && output === undefined) {
    throw new ConfigError(`${run.command}: -o OUT is required (or --dry-run to write nothing)`);
  }
  if (output !== undefined) {
    await checkOutput(output, modelKindOf(output), [run.input, ...(run.otherInputs ?? [])]);
  }
  const checks = flags.check === undefined ? undefined : parseInteger(flags.check, "--check", 1);
  const progress = createProgress(run.title ?? run.command, Boolean(flags.quiet || flags.json));
  const report = await withModel(run.input, async (model) => {
    const result = await run
      .work(model, (event) => progress.update(event))
      .finally(() => progress.stop());
    try {
      const report: CommandReport = {
        command: run.command,
        input: run.input,
        output: output ?? null,
        dryRun: Boolean(flags.dryRun),
        sizeBefore: await diskSize(run.input),
        sizeAfter: 0,
        weights: result.weights,
        skipped: result.skipped,
        warnings: result.warnings ?? [],
        hints: result.hints ?? [],
        ...result.extra,
      };
      const text = result.text ?? "";
      if ((result.changed ?? report.weights.length) === 0 && !flags.allowEmpty) {
        report.sizeAfter = report.sizeBefore;
        report.output = null;
        print(report, flags, run.verb, text);
        throw nothingDone(report, run.verb);
      }
      report.check = await checkResult(
        { model, path: run.input },
        { model: result.model, path: output ?? "(result)" },
        checks,
      );
      if (output === undefined) {
        report.sizeAfter = await modelSize(result.model);
      } else {
        await result.model.save(output);
        report.sizeAfter = await diskSize(output);
      }
      return { report, text };
    } finally {
      await result.model.close();
    }
  });
  print(report.report, flags, run.verb, report.text);
  return report.report;
}

function print(report: CommandReport, flags: OutputFlags, verb?: string, text = ""): void {
  if (flags.json) printJson(report);
  else process.stdout.write(text + renderReport(report, verb));
}
