/** `coreml-optimize prune`: coremltools' `prune_weights` from the command line. */
import type { Command } from "commander";
import { loadConfigFile, type OptimizationConfig } from "../../config/index.js";
import {
  magnitudePrunerConfig,
  thresholdPrunerConfig,
  type PrunerConfig,
} from "../../config/pruner.js";
import { ConfigError } from "../../errors.js";
import { WorkerPool } from "../../parallel/pool.js";
import { pruneWeights } from "../../passes/prune.js";
import { compressionSummary } from "../report.js";
import { printJson } from "../run.js";
import { runCompression } from "../compression.js";
import { CHECK_OPTION, checkCount, renderComparison } from "../check.js";
import { parseTarget } from "../../program/targets.js";

interface PruneOptions {
  check?: string;
  output: string;
  mode?: string;
  threshold?: string;
  minimumSparsityPercentile?: string;
  targetSparsity?: string;
  blockSize?: string;
  nM?: string;
  dim?: string;
  weightThreshold?: string;
  config?: string;
  target?: string;
  json?: boolean;
  quiet?: boolean;
}

function number(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new ConfigError(`--${option}: expected a number, got "${text}"`);
  }
  return value;
}

function integer(text: string | undefined, option: string): number | undefined {
  const value = number(text, option);
  if (value !== undefined && !Number.isInteger(value)) {
    throw new ConfigError(`--${option}: expected an integer, got "${text}"`);
  }
  return value;
}

function ratio(text: string | undefined): [number, number] | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  if (!match) throw new ConfigError(`--n-m: expected N:M such as 2:4, got "${text}"`);
  return [Number(match[1]), Number(match[2])];
}

/** The pruning config the options describe (a config file excludes the other options). */
export async function pruneConfigFromOptions(
  options: Omit<PruneOptions, "output">,
): Promise<OptimizationConfig<PrunerConfig>> {
  const inline = [
    "mode",
    "threshold",
    "minimumSparsityPercentile",
    "targetSparsity",
    "blockSize",
    "nM",
    "dim",
    "weightThreshold",
  ] as const;
  if (options.config) {
    const given = inline.find((key) => options[key] !== undefined);
    if (given) throw new ConfigError(`--config cannot be combined with other pruning options`);
    return (await loadConfigFile(options.config)) as OptimizationConfig<PrunerConfig>;
  }
  const weightThreshold = integer(options.weightThreshold, "weight-threshold");
  const magnitudeAsked =
    options.targetSparsity !== undefined ||
    options.nM !== undefined ||
    options.blockSize !== undefined;
  const mode = options.mode ?? (magnitudeAsked ? "magnitude" : "threshold");
  if (mode === "threshold") {
    if (magnitudeAsked || options.dim !== undefined) {
      throw new ConfigError(
        "--target-sparsity, --block-size, --n-m and --dim need --mode magnitude",
      );
    }
    return {
      globalConfig: thresholdPrunerConfig({
        threshold: number(options.threshold, "threshold"),
        minimumSparsityPercentile: number(
          options.minimumSparsityPercentile,
          "minimum-sparsity-percentile",
        ),
        weightThreshold,
      }),
    };
  }
  if (mode !== "magnitude") {
    throw new ConfigError(`--mode: expected threshold or magnitude, got "${mode}"`);
  }
  if (options.threshold !== undefined || options.minimumSparsityPercentile !== undefined) {
    throw new ConfigError("--threshold and --minimum-sparsity-percentile need --mode threshold");
  }
  const dim = integer(options.dim, "dim");
  return {
    globalConfig: magnitudePrunerConfig({
      targetSparsity: number(options.targetSparsity, "target-sparsity"),
      blockSize: integer(options.blockSize, "block-size"),
      nMRatio: ratio(options.nM),
      dim: dim as 0 | 1 | undefined,
      weightThreshold,
    }),
  };
}

/** The per-weight summary table of a compression. */
export function registerPrune(program: Command): void {
  program
    .command("prune")
    .description("Prune weights to sparse form (coremltools' prune_weights)")
    .argument("<input>", "model (.mlpackage or .mlmodel)")
    .requiredOption("-o, --output <path>", "where to write the pruned model")
    .option("--mode <mode>", "threshold or magnitude (default: magnitude when its options are set)")
    .option("--threshold <t>", "threshold mode: zero weights with |w| <= t (default 1e-12)")
    .option(
      "--minimum-sparsity-percentile <p>",
      "threshold mode: keep a weight dense unless this fraction ends up zero (default 0.5)",
    )
    .option("--target-sparsity <s>", "magnitude mode: fraction in [0, 1] of weights to zero")
    .option("--block-size <n>", "magnitude mode: prune blocks of n channels along --dim")
    .option("--n-m <N:M>", "magnitude mode: zero N of every M channels along --dim")
    .option("--dim <d>", "channel axis of block or n:m sparsity (0 or 1)")
    .option("--weight-threshold <n>", "only prune weights with more elements (default 2048)")
    .option("--config <file>", "an OptimizationConfig (YAML or JSON) instead of the options above")
    .option("--target <target>", "raise the model to at least this target first (e.g. ios16)")
    .option(...CHECK_OPTION)
    .option("--json", "print the summary as JSON")
    .option("-q, --quiet", "no progress bar")
    .action(async (input: string, options: PruneOptions) => {
      const config = await pruneConfigFromOptions(options);
      const raiseTarget = options.target ? parseTarget(options.target) : undefined;
      const pool = new WorkerPool();
      const outcome = await runCompression({
        input,
        output: options.output,
        otherInputs: [options.config],
        title: "prune",
        quiet: Boolean(options.quiet || options.json),
        checks: checkCount(options.check),
        compress: (model, onProgress) =>
          pruneWeights(model, config, { raiseTarget, pool, onProgress }),
      }).finally(() => pool.close());
      if (options.json) {
        printJson({ input, output: options.output, ...outcome });
      } else {
        process.stdout.write(`${compressionSummary(outcome)}wrote ${options.output}\n`);
        if (outcome.check) process.stdout.write(`${renderComparison(outcome.check)}\n`);
      }
    });
}
