/** `coreml-optimize palettize IN -o OUT`: weights become look-up tables and indices. */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Command } from "commander";
import {
  loadConfigFile,
  PALETTIZER,
  palettizerConfig,
  type LutFunction,
  type OpPalettizerConfig,
  type OptimizationConfig,
  type PalettizerOptions,
} from "../../config/index.js";
import { ConfigError } from "../../errors.js";
import { palettizeWeights } from "../../passes/palettize.js";
import { parseTarget } from "../../program/targets.js";
import { compressionSummary } from "../report.js";
import { printJson } from "../run.js";
import { runCompression } from "../compression.js";
import { CHECK_OPTION, checkCount, renderComparison } from "../check.js";

interface PalettizeFlags {
  check?: string;
  output: string;
  mode?: string;
  nbits?: string;
  granularity?: string;
  groupSize?: string;
  channelAxis?: string;
  clusterDim?: string;
  perChannelScale?: boolean;
  lutFunction?: string;
  weightThreshold?: string;
  workers?: string;
  config?: string;
  target?: string;
  joint?: boolean;
  json?: boolean;
  quiet?: boolean;
}

function integerFlag(flag: string, text: string, signed = false): number {
  if (!(signed ? /^-?\d+$/ : /^\d+$/).test(text.trim())) {
    throw new ConfigError(`${flag}: expected a whole number, got "${text}"`);
  }
  return Number(text);
}

/** The function a `--lut-function` module exports (as `default` or `lutFunction`). */
async function loadLutFunction(path: string): Promise<LutFunction> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`--lut-function ${path}: cannot load (${(error as Error).message})`);
  }
  const fn = module.lutFunction ?? module.default;
  if (typeof fn !== "function") {
    throw new ConfigError(`--lut-function ${path}: exports no function (default or lutFunction)`);
  }
  return fn as LutFunction;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

async function flagOptions(flags: PalettizeFlags): Promise<PalettizerOptions> {
  const options: Mutable<PalettizerOptions> = {};
  if (flags.mode) options.mode = flags.mode as PalettizerOptions["mode"];
  if (flags.nbits) options.nbits = integerFlag("--nbits", flags.nbits);
  if (flags.granularity) {
    options.granularity = flags.granularity as PalettizerOptions["granularity"];
  }
  if (flags.groupSize) options.groupSize = integerFlag("--group-size", flags.groupSize);
  if (flags.channelAxis) {
    options.channelAxis = integerFlag("--channel-axis", flags.channelAxis, true);
  }
  if (flags.clusterDim) options.clusterDim = integerFlag("--cluster-dim", flags.clusterDim);
  if (flags.perChannelScale) options.enablePerChannelScale = true;
  if (flags.weightThreshold) {
    options.weightThreshold = integerFlag("--weight-threshold", flags.weightThreshold);
  }
  if (flags.lutFunction) {
    options.lutFunction = await loadLutFunction(flags.lutFunction);
    options.mode ??= "custom";
  }
  return options;
}

/** The config the flags describe: a config file, if any, with the flags layered on its global config. */
async function palettizeConfig(
  flags: PalettizeFlags,
): Promise<OptimizationConfig<OpPalettizerConfig>> {
  const options = await flagOptions(flags);
  if (!flags.config) return { globalConfig: palettizerConfig(options, "options") };
  const fromFile = (await loadConfigFile(flags.config)) as OptimizationConfig<OpPalettizerConfig>;
  if (Object.keys(options).length === 0) return fromFile;
  const fileGlobal: Record<string, unknown> = { ...fromFile.globalConfig };
  delete fileGlobal.kind;
  return {
    ...fromFile,
    globalConfig: palettizerConfig({ ...fileGlobal, ...options }, "options"),
  };
}

function describe(config: OpPalettizerConfig): string {
  const parts: string[] = [config.mode];
  if (config.nbits !== undefined) parts.push(`${config.nbits}-bit`);
  parts.push(
    config.granularity === "per_grouped_channel" ? `group ${config.groupSize}` : "per_tensor",
  );
  if (config.clusterDim > 1) parts.push(`vector ${config.clusterDim}`);
  if (config.enablePerChannelScale) parts.push("per-channel scale");
  return parts.join(" ");
}

export function registerPalettize(program: Command): void {
  program
    .command("palettize")
    .description("Palettize weights into look-up tables (coremltools' palettize_weights).")
    .argument("<input>", "model (.mlpackage or .mlmodel)")
    .requiredOption("-o, --output <path>", "where to write the palettized model")
    .option("--mode <mode>", "kmeans (default), uniform, unique or custom")
    .option("--nbits <n>", "bits per index: 1, 2, 3, 4, 6 or 8 (kmeans and uniform)")
    .option("--granularity <g>", "per_tensor (default) or per_grouped_channel")
    .option("--group-size <n>", "per_grouped_channel: channels sharing a table (default 32)")
    .option("--channel-axis <n>", "per_grouped_channel: channel axis (default: the consumer's)")
    .option("--cluster-dim <n>", "vector palettization: values per table entry (default 1)")
    .option("--per-channel-scale", "normalize channels by their largest magnitude first")
    .option("--lut-function <module.js>", "custom mode: a module exporting lutFunction(weights)")
    .option("--weight-threshold <n>", "palettize only weights with more elements (default 2048)")
    .option("--workers <n>", "worker threads for k-means (default: every core)")
    .option("--config <file>", `${PALETTIZER} config file (YAML or JSON, coremltools' shape)`)
    .option("--target <target>", "raise the model to at least this target first (e.g. ios18)")
    .option("--joint", "joint compression (iOS18+): palettize the kept values of pruned weights")
    .option(...CHECK_OPTION)
    .option("--json", "print the report as JSON")
    .option("-q, --quiet", "no progress bar")
    .action(async (input: string, flags: PalettizeFlags) => {
      const config = await palettizeConfig(flags);
      const raiseTarget = flags.target ? parseTarget(flags.target) : undefined;
      const workers = flags.workers ? integerFlag("--workers", flags.workers) : undefined;
      const outcome = await runCompression({
        input,
        output: flags.output,
        otherInputs: [flags.config, flags.lutFunction],
        title: "palettize",
        quiet: Boolean(flags.quiet || flags.json),
        checks: checkCount(flags.check),
        compress: (model, onProgress) =>
          palettizeWeights(model, config, { raiseTarget, joint: flags.joint, workers, onProgress }),
      });
      if (flags.json) {
        const weights = outcome.weights.map(({ config: c, ...rest }) => ({
          ...rest,
          config: describe(c as OpPalettizerConfig),
        }));
        printJson({ input, output: flags.output, ...outcome, weights });
      } else {
        process.stdout.write(compressionSummary(outcome, (c) => describe(c as OpPalettizerConfig)));
        if (outcome.check) process.stdout.write(`${renderComparison(outcome.check)}\n`);
      }
    });
}
