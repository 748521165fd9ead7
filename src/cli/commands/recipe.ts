/**
 * `coreml-optimize recipe MODEL -o recipe.yaml --bits B | --size S | --min-snr D`: a config per
 * weight chosen from measured sensitivity, written as steps `compress --config` runs, with
 * the predicted size and quality checked by compressing and comparing.
 */
import type { Command } from "commander";
import { rename, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  chooseRecipe,
  recipeLayers,
  recipeSteps,
  type Recipe,
  type RecipeTarget,
} from "../../analysis/recipe.js";
import { measureRecipe } from "../../analysis/recipe-check.js";
import { measureSensitivity, type SensitivityTable } from "../../analysis/sensitivity.js";
import { ConfigError } from "../../errors.js";
import type { MLModel } from "../../format/model.js";
import { readRegularFile } from "../../format/user-files.js";
import { QUANTIZE_WEIGHTS_CONFIG } from "../../passes/neural-quantize-config.js";
import { loadRunner } from "../../runtime/runner.js";
import { parseNumber } from "../flags.js";
import { sampleOptions, samplesFromFlags, type SampleFlags } from "../inputs.js";
import { createProgress } from "../progress.js";
import { renderRecipe } from "../quality-report.js";
import { printJson, withInterpreterPool, withModel } from "../run.js";
import { configObject } from "../report.js";
import { CANDIDATES_OPTION, candidatesFromFlags, type CandidateFlags } from "./sensitivity.js";

interface RecipeFlags extends SampleFlags, CandidateFlags {
  output: string;
  bits?: string;
  size?: string;
  minSnr?: string;
  table?: string;
  verify: boolean;
  sequential?: boolean;
  compensate?: boolean;
  json?: boolean;
  quiet?: boolean;
}

const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KIB: 1024,
  MIB: 1024 ** 2,
  GIB: 1024 ** 3,
};

/**
 * `--size`: a fraction (≤ 1) of the weights' bytes now, else megabytes, or a size with a unit;
 * checked at once, resolved once the weights' bytes are known.
 */
function parseSize(text: string): (currentBytes: number) => number {
  const match = /^\s*([\d.]+(?:e-?\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = match?.[2].toUpperCase() ?? "";
  const value = match ? Number(match[1]) : NaN;
  if (!match || !Number.isFinite(value) || value <= 0 || (unit && !(unit in SIZE_UNITS))) {
    throw new ConfigError(
      `--size: expected a fraction like 0.3, or a size like 2.5MB, got "${text}"`,
    );
  }
  if (unit) return () => value * SIZE_UNITS[unit];
  return (currentBytes) => (value <= 1 ? value * currentBytes : value * 1e6);
}

/** The one target flag, checked before any work; sizes resolve against the weights' bytes. */
function targetFromFlags(flags: RecipeFlags): (currentBytes: number) => RecipeTarget {
  const given = [flags.bits, flags.size, flags.minSnr].filter((f) => f !== undefined);
  if (given.length !== 1) {
    throw new ConfigError("give one target: --bits B, --size S or --min-snr D");
  }
  if (flags.bits !== undefined) {
    const bits = parseNumber(flags.bits, "--bits");
    if (bits <= 0) throw new ConfigError(`--bits: expected a positive number, got "${flags.bits}"`);
    return () => ({ bits });
  }
  if (flags.size !== undefined) {
    const size = parseSize(flags.size);
    return (currentBytes) => ({ bytes: size(currentBytes) });
  }
  const minSnrDb = parseNumber(flags.minSnr!, "--min-snr");
  return () => ({ minSnrDb });
}

/** A `sensitivity --json` table read back. */
async function readTable(path: string): Promise<SensitivityTable> {
  let table: unknown;
  try {
    table = JSON.parse(new TextDecoder().decode(await readRegularFile(path)));
  } catch (error) {
    throw new ConfigError(`${path}: not JSON: ${(error as Error).message}`);
  }
  const t = table as Partial<SensitivityTable>;
  if (!Array.isArray(t.weights) || !Array.isArray(t.trials) || !Array.isArray(t.candidates)) {
    throw new ConfigError(`${path}: not a sensitivity table (write one with sensitivity --json)`);
  }
  // JSON has no infinities: printJson writes them as strings.
  const number = (v: unknown) =>
    typeof v === "number" ? v : v === "inf" ? Infinity : v === "-inf" ? -Infinity : NaN;
  for (const trial of t.trials) {
    trial.snrDb = number(trial.snrDb);
    trial.psnrDb = number(trial.psnrDb);
  }
  return t as SensitivityTable;
}

/**
 * The recipe as YAML, each weight's line commented with its measured effect: steps for
 * `compress --config`, or for a neural network (`neural`) a per-layer config for
 * `quantize-weights --config`.
 */
export function recipeYaml(
  recipe: Recipe,
  table: SensitivityTable,
  model: string,
  neural = false,
): string {
  const { predicted } = recipe;
  const quality = (snrDb: number, meanKl?: number) =>
    `output SNR ${snrDb === Infinity ? "inf" : snrDb.toFixed(1)} dB` +
    (meanKl !== undefined ? `, mean KL ${meanKl.toExponential(2)}` : "");
  const lines = [
    `# recipe for ${model} (${targetText(recipe.target)}), from ${table.samples} sample(s) on output ${table.output}`,
    `# predicted: ${predicted.bitsPerWeight.toFixed(2)} bits per weight, ${predicted.bytes} bytes of weights, ${quality(predicted.snrDb, predicted.meanKl)}`,
  ];
  const kept = recipe.choices.filter((c) => !c.config).map((c) => c.weight);
  if (kept.length > 0) lines.push(`# left as they are: ${kept.join(", ")}`);
  const entry = (indent: string, name: string, fields: object) => {
    const choice = recipe.choices.find((c) => c.weight === name)!;
    lines.push(
      `${indent}# ${choice.candidate}: ${choice.bitsPerWeight.toFixed(2)} bits; alone: ${quality(choice.snrDb, choice.meanKl)}`,
      `${indent}${JSON.stringify(name)}: ${JSON.stringify(fields)}`,
    );
  };
  if (neural) {
    lines.push(`config_type: ${QUANTIZE_WEIGHTS_CONFIG}`, "op_name_configs:");
    for (const [name, settings] of Object.entries(recipeLayers(recipe)))
      entry("  ", name, settings);
    return `${lines.join("\n")}\n`;
  }
  lines.push("steps:");
  for (const step of recipeSteps(recipe)) {
    const entries = Object.entries(step.config.opNameConfigs ?? {});
    lines.push(`  - config_type: ${entries[0][1]!.kind}`, "    op_name_configs:");
    for (const [name, config] of entries) {
      const fields = configObject(config!);
      delete fields.config_type;
      entry("      ", name, fields);
    }
  }
  return `${lines.join("\n")}\n`;
}

function targetText(target: RecipeTarget): string {
  if ("bits" in target) return `${target.bits} bits per weight`;
  if ("bytes" in target) return `${Math.round(target.bytes)} bytes of weights`;
  return `output SNR at least ${target.minSnrDb} dB`;
}

export function registerRecipe(program: Command): void {
  const command = program
    .command("recipe")
    .description(
      "choose a compression config per weight (per layer for neural networks) from measured sensitivity, for a size or quality target, and write it for compress --config (quantize-weights --config)",
    )
    .argument("<model>", "ML program (.mlpackage) or neural network (.mlmodel)")
    .requiredOption("-o, --output <file>", "the recipe to write (YAML)")
    .option("--bits <b>", "target: average bits per weight (e.g. 4.5)")
    .option("--size <s>", "target: size of the weights, a fraction (0.3) or with a unit (2.5MB)")
    .option("--min-snr <dB>", "target: smallest recipe whose predicted output SNR is at least this")
    .option("--table <file>", "a `sensitivity --json` table to use instead of measuring again")
    .option(...CANDIDATES_OPTION)
    .option("--no-verify", "do not compress with the recipe to check the prediction")
    .option(
      "--sequential",
      "neural networks: verify with the calibrated layers fitted in network order, each through the layers quantized before it (apply it with quantize-weights --sequential too)",
    )
    .option(
      "--compensate",
      "neural networks: as --sequential, each layer fitted to the float network's output (quantize-weights --compensate)",
    )
    .option("--json", "print machine-readable JSON")
    .option("-q, --quiet", "no progress bar");
  sampleOptions(command).action(async (modelPath: string, flags: RecipeFlags) => {
    if (resolve(flags.output).startsWith(resolve(modelPath))) {
      throw new ConfigError(`-o ${flags.output}: would write into the model`);
    }
    const target = targetFromFlags(flags);
    const progress = createProgress("sensitivity", flags.quiet || flags.json);
    const report = await withInterpreterPool((pool) =>
      withModel(modelPath, async (model: MLModel) => {
        const neural = model.spec.Type.case !== "mlProgram";
        if (!neural && (flags.sequential || flags.compensate)) {
          const flag = flags.compensate ? "--compensate" : "--sequential";
          throw new ConfigError(`${flag}: for neural networks (${modelPath} is an ML program)`);
        }
        const { inputs } = await loadRunner(model);
        const samples = await samplesFromFlags(flags, inputs);
        const table = flags.table
          ? await readTable(flags.table)
          : await measureSensitivity(model, samples, {
              pool,
              candidates: await candidatesFromFlags(flags),
              onProgress: (event) => progress.update(event),
            });
        progress.stop();
        const currentBytes = table.weights.reduce((n, w) => n + w.bytes, 0);
        const recipe = chooseRecipe(table, target(currentBytes));
        const measured = flags.verify
          ? await measureRecipe(model, recipe, table, samples, {
              pool,
              sequential: flags.sequential,
              compensate: flags.compensate,
            })
          : undefined;
        return { table, recipe, measured, samples: samples.length, neural };
      }),
    ).finally(() => progress.stop());
    // Written last: a failed run leaves nothing behind.
    const temporary = `${flags.output}.partial`;
    await writeFile(temporary, recipeYaml(report.recipe, report.table, modelPath, report.neural));
    await rename(temporary, flags.output);
    const summary = {
      model: modelPath,
      recipe: flags.output,
      target: report.recipe.target,
      choices: report.recipe.choices,
      predicted: report.recipe.predicted,
      ...(report.measured && { measured: report.measured, samples: report.samples }),
      ...(flags.compensate
        ? { fitting: "compensate" as const }
        : flags.sequential && { fitting: "sequential" as const }),
    };
    if (flags.json) printJson(summary);
    else process.stdout.write(`${renderRecipe(summary, report.neural)}\n`);
  });
}
