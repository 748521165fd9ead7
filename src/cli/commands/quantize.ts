/** `coreml-optimize quantize IN -o OUT`: linear quantization of a model's weights. */
import type { Command } from "commander";
import {
  LINEAR_QUANTIZER,
  linearQuantizerConfig,
  loadConfigFile,
  type LinearQuantizerOptions,
  type OpLinearQuantizerConfig,
  type OptimizationConfig,
} from "../../config/index.js";
import { ConfigError } from "../../errors.js";
import { linearQuantizeWeights } from "../../passes/linear-quantize.js";
import { WorkerPool } from "../../parallel/pool.js";
import { parseTarget } from "../../program/targets.js";
import { compressionSummary } from "../report.js";
import { printJson } from "../run.js";
import { runCompression } from "../compression.js";
import { CHECK_OPTION, checkCount, renderComparison } from "../check.js";

interface QuantizeFlags {
  output: string;
  mode?: string;
  dtype?: string;
  granularity?: string;
  blockSize?: string;
  weightThreshold?: string;
  opType: string[];
  opName: string[];
  config?: string;
  target?: string;
  joint?: boolean;
  json?: boolean;
  quiet?: boolean;
  check?: string;
}

function integerFlag(flag: string, text: string): number {
  if (!/^\d+$/.test(text.trim()))
    throw new ConfigError(`${flag}: expected a whole number, got "${text}"`);
  return Number(text);
}

/** `32` or `1,64` (one entry per axis). */
function blockSizeFlag(flag: string, text: string, separator: string): number | number[] {
  const parts = text.split(separator);
  const sizes = parts.map((p) => integerFlag(flag, p));
  return parts.length === 1 ? sizes[0] : sizes;
}

function globalOptions(flags: QuantizeFlags): LinearQuantizerOptions {
  const options: Record<string, unknown> = {};
  if (flags.mode) options.mode = flags.mode;
  if (flags.dtype) options.dtype = flags.dtype;
  if (flags.granularity) options.granularity = flags.granularity;
  if (flags.blockSize) options.blockSize = blockSizeFlag("--block-size", flags.blockSize, ",");
  if (flags.weightThreshold) {
    options.weightThreshold = integerFlag("--weight-threshold", flags.weightThreshold);
  }
  return options as LinearQuantizerOptions;
}

/**
 * `NAME=skip`, or `NAME=key:value,...` with the config's snake_case keys (block sizes per axis
 * as `1/64`); unspecified fields come from the global flags.
 */
function entryFlag(
  flag: string,
  text: string,
  base: LinearQuantizerOptions,
): [string, OpLinearQuantizerConfig | null] {
  const at = text.indexOf("=");
  if (at <= 0) throw new ConfigError(`${flag} ${text}: expected NAME=skip or NAME=key:value,...`);
  const name = text.slice(0, at);
  const spec = text.slice(at + 1).trim();
  if (spec === "skip" || spec === "none" || spec === "null") return [name, null];
  const options: Record<string, unknown> = { ...base };
  for (const pair of spec.split(",")) {
    const [key, value] = pair.split(":").map((s) => s.trim());
    if (!key || value === undefined)
      throw new ConfigError(`${flag} ${text}: "${pair}" is not key:value`);
    const camel = key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    if (camel === "blockSize") options.blockSize = blockSizeFlag(`${flag} ${name}`, value, "/");
    else if (camel === "weightThreshold")
      options.weightThreshold = integerFlag(`${flag} ${name}`, value);
    else options[camel] = value;
  }
  return [name, linearQuantizerConfig(options as LinearQuantizerOptions, `${flag} ${name}`)];
}

function fieldsOf(config: OpLinearQuantizerConfig | null | undefined): LinearQuantizerOptions {
  if (!config) return {};
  const { mode, dtype, granularity, blockSize, weightThreshold } = config;
  return { mode, dtype, granularity, blockSize, weightThreshold };
}

/** The config the flags describe: a config file, if any, with the flags layered on top. */
async function quantizeConfig(
  flags: QuantizeFlags,
): Promise<OptimizationConfig<OpLinearQuantizerConfig>> {
  const base = globalOptions(flags);
  let config: OptimizationConfig<OpLinearQuantizerConfig> = {
    globalConfig: linearQuantizerConfig(base, "options"),
  };
  if (flags.config) {
    const fromFile = (await loadConfigFile(
      flags.config,
    )) as OptimizationConfig<OpLinearQuantizerConfig>;
    const fileGlobal = fromFile.globalConfig;
    config = {
      ...fromFile,
      globalConfig:
        Object.keys(base).length === 0
          ? fileGlobal
          : linearQuantizerConfig({ ...fieldsOf(fileGlobal), ...base }, "options"),
    };
  }
  const opTypeConfigs = { ...config.opTypeConfigs };
  for (const text of flags.opType) {
    const [name, entry] = entryFlag("--op-type", text, base);
    opTypeConfigs[name] = entry;
  }
  const opNameConfigs = { ...config.opNameConfigs };
  for (const text of flags.opName) {
    const [name, entry] = entryFlag("--op-name", text, base);
    opNameConfigs[name] = entry;
  }
  return { ...config, opTypeConfigs, opNameConfigs };
}

function describe(config: OpLinearQuantizerConfig): string {
  const block =
    config.granularity === "per_block"
      ? ` ${typeof config.blockSize === "number" ? config.blockSize : config.blockSize.join("x")}`
      : "";
  return `${config.dtype} ${config.mode} ${config.granularity}${block}`;
}

export function registerQuantize(program: Command): void {
  const collect = (value: string, previous: string[]) => [...previous, value];
  program
    .command("quantize")
    .description("Quantize weights linearly to 8 or 4 bits (coremltools' linear_quantize_weights).")
    .argument("<input>", "model (.mlpackage or .mlmodel)")
    .requiredOption("-o, --output <path>", "where to write the quantized model")
    .option("--mode <mode>", "linear_symmetric (default) or linear")
    .option("--dtype <dtype>", "int8 (default), uint8, int4 or uint4")
    .option("--granularity <g>", "per_tensor, per_channel (default) or per_block")
    .option(
      "--block-size <n>",
      "per_block: block size along the input axis, or one per axis (1,64)",
    )
    .option("--weight-threshold <n>", "quantize only weights with more elements (default 2048)")
    .option("--op-type <T=spec>", "config for an op type: T=skip or T=key:value,...", collect, [])
    .option(
      "--op-name <N=spec>",
      "config for an op by name: N=skip or N=key:value,...",
      collect,
      [],
    )
    .option("--config <file>", `${LINEAR_QUANTIZER} config file (YAML or JSON, coremltools' shape)`)
    .option("--target <target>", "raise the model to at least this target first (e.g. ios18)")
    .option(
      "--joint",
      "joint compression (iOS18+): also quantize pruned weights' kept values and palettization tables",
    )
    .option(...CHECK_OPTION)
    .option("--json", "print the report as JSON")
    .option("-q, --quiet", "no progress bar")
    .action(async (input: string, flags: QuantizeFlags) => {
      const config = await quantizeConfig(flags);
      const raiseTarget = flags.target ? parseTarget(flags.target) : undefined;
      const pool = new WorkerPool();
      const outcome = await runCompression({
        input,
        output: flags.output,
        otherInputs: [flags.config],
        title: "quantize",
        quiet: Boolean(flags.quiet || flags.json),
        checks: checkCount(flags.check),
        compress: (model, onProgress) =>
          linearQuantizeWeights(model, config, {
            raiseTarget,
            joint: flags.joint,
            pool,
            onProgress,
          }),
      }).finally(() => pool.close());
      if (flags.json) {
        printJson({ input, output: flags.output, ...outcome });
      } else {
        process.stdout.write(
          compressionSummary(outcome, (c) => describe(c as OpLinearQuantizerConfig)),
        );
        if (outcome.check) process.stdout.write(`${renderComparison(outcome.check)}\n`);
      }
    });
}
