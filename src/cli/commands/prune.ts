/** `coreml-optimize prune IN -o OUT`: coremltools' `prune_weights` from the command line. */
import type { Command } from "commander";
import {
  magnitudePrunerConfig,
  thresholdPrunerConfig,
  type MagnitudePrunerOptions,
  type PrunerConfig,
  type ThresholdPrunerOptions,
} from "../../config/pruner.js";
import type { OptimizationConfig } from "../../config/optimization-config.js";
import { ConfigError } from "../../errors.js";
import { writeCompressed } from "../calibration.js";
import {
  outputOptions,
  targetOption,
  WORKERS_OPTION,
  FUNCTION_OPTION,
  type OutputFlags,
} from "../write-command.js";
import { collect, layeredConfig, parseInteger, parseNumber, withEntries } from "../flags.js";

interface PruneFlags extends OutputFlags {
  function?: string;
  mode?: string;
  threshold?: string;
  minimumSparsityPercentile?: string;
  targetSparsity?: string;
  blockSize?: string;
  nM?: string;
  dim?: string;
  weightThreshold?: string;
  opType?: string[];
  opName?: string[];
  config?: string;
  target?: string;
  workers?: string;
}

/** Settings only magnitude pruning has: giving one chooses it. */
const MAGNITUDE_FIELDS = ["targetSparsity", "blockSize", "nMRatio", "dim"];
const THRESHOLD_FIELDS = ["threshold", "minimumSparsityPercentile"];

function ratio(text: string): [number, number] {
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  if (!match) throw new ConfigError(`--n-m: expected N:M such as 2:4, got "${text}"`);
  return [Number(match[1]), Number(match[2])];
}

/** The settings the flags give (each only when given, so a config file's stay otherwise). */
function flagged(flags: PruneFlags): Record<string, unknown> {
  const number = (text: string | undefined, flag: string) =>
    text === undefined ? undefined : parseNumber(text, flag);
  const integer = (text: string | undefined, flag: string) =>
    text === undefined ? undefined : parseInteger(text, flag);
  const settings: Record<string, unknown> = {
    mode: flags.mode,
    threshold: number(flags.threshold, "--threshold"),
    minimumSparsityPercentile: number(
      flags.minimumSparsityPercentile,
      "--minimum-sparsity-percentile",
    ),
    targetSparsity: number(flags.targetSparsity, "--target-sparsity"),
    blockSize: integer(flags.blockSize, "--block-size"),
    nMRatio: flags.nM === undefined ? undefined : ratio(flags.nM),
    dim: integer(flags.dim, "--dim"),
    weightThreshold: integer(flags.weightThreshold, "--weight-threshold"),
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
}

/**
 * A pruner config from settings: `mode` (threshold or magnitude) chooses its kind, else the
 * settings do (magnitude ones choose magnitude pruning).
 */
function prunerConfig({ mode, ...options }: Record<string, unknown>, path: string): PrunerConfig {
  const has = (fields: string[]) => fields.some((f) => options[f] !== undefined);
  const kind = mode ?? (has(MAGNITUDE_FIELDS) ? "magnitude" : "threshold");
  if (kind === "magnitude") {
    if (has(THRESHOLD_FIELDS)) {
      throw new ConfigError("--threshold and --minimum-sparsity-percentile need --mode threshold");
    }
    return magnitudePrunerConfig(options as MagnitudePrunerOptions, path);
  }
  if (kind !== "threshold") {
    throw new ConfigError(`--mode: expected threshold or magnitude, got "${String(kind)}"`);
  }
  if (has(MAGNITUDE_FIELDS)) {
    throw new ConfigError("--target-sparsity, --block-size, --n-m and --dim need --mode magnitude");
  }
  return thresholdPrunerConfig(options as ThresholdPrunerOptions, path);
}

/** The pruning config the flags describe: a config file, if any, with the flags on top. */
export async function pruneConfig(
  flags: Partial<PruneFlags>,
): Promise<OptimizationConfig<PrunerConfig>> {
  const base = flagged(flags as PruneFlags);
  const entries = { opType: flags.opType, opName: flags.opName };
  return withEntries(
    await layeredConfig(flags.config, base, prunerConfig),
    entries,
    base,
    prunerConfig,
  );
}

export function registerPrune(program: Command): void {
  const command = program
    .command("prune")
    .description("Prune weights to sparse form (coremltools' prune_weights).")
    .argument("<input>", "model (.mlpackage)")
    .option(
      "--mode <mode>",
      "threshold or magnitude (default: magnitude when a magnitude option is given)",
    )
    .option("--threshold <t>", "threshold mode: zero weights with |w| <= t (default: 1e-12)")
    .option(
      "--minimum-sparsity-percentile <p>",
      "threshold mode: keep a weight dense unless this fraction ends up zero (default: 0.5)",
    )
    .option("--target-sparsity <s>", "magnitude mode: fraction in [0, 1] of weights to zero")
    .option("--block-size <n>", "magnitude mode: prune blocks of n channels along --dim")
    .option("--n-m <N:M>", "magnitude mode: zero N of every M channels along --dim")
    .option("--dim <d>", "channel axis of block or n:m sparsity: 0 or 1")
    .option(
      "--weight-threshold <n>",
      "prune only weights with more elements than this (default: 2048)",
    )
    .option("--op-type <T=spec>", "config for an op type: T=skip or T=key:value,...", collect)
    .option("--op-name <N=spec>", "config for one op: N=skip or N=key:value,...", collect)
    .option(
      "--config <file>",
      "a pruner OptimizationConfig file (YAML or JSON, coremltools' shape)",
    );
  targetOption(command, "iOS16 for older models")
    .option(...WORKERS_OPTION)
    .option(...FUNCTION_OPTION);
  outputOptions(command, "pruned")
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize prune model.mlpackage -o model-sparse.mlpackage --target-sparsity 0.5
  coreml-optimize prune model.mlpackage -o out.mlpackage --n-m 2:4
  coreml-optimize prune model.mlpackage -o out.mlpackage --mode threshold --threshold 0.03`,
    )
    .action(async (input: string, flags: PruneFlags) => {
      const config = await pruneConfig(flags);
      await writeCompressed("prune", input, flags, config, "pruned");
    });
}
