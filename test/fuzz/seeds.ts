/**
 * What the fuzzer starts from: the fixtures' models (with a valid input sample and the output
 * names of each one that runs) and the configs of the golden cases.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel } from "../../src/format/model.js";
import { writeNpy } from "../../src/format/npy.js";
import { randomSamples } from "../../src/runtime/inputs.js";
import { loadRunner } from "../../src/runtime/runner.js";

export type ModelFormat = "mlpackage" | "mlmodel";

export interface SampleInput {
  name: string;
  npy: Uint8Array;
}

export interface BaseModel {
  name: string;
  path: string;
  format: ModelFormat;
  program: "mlProgram" | "neuralNetwork";
  /** A golden case: the output of a compression (constexpr ops, LUTs, sparse weights). */
  compressed: boolean;
  /** A valid sample (one .npy per input); empty when the model does not run on the CPU. */
  inputs: SampleInput[];
  outputs: string[];
}

/** Commands that take `--config`, and the config files' shape for each. */
export type ConfigCommand =
  "quantize" | "palettize" | "prune" | "compress" | "quantize-activations";

export interface SeedConfig {
  command: ConfigCommand;
  value: unknown;
}

export interface Seeds {
  repoRoot: string;
  bases: BaseModel[];
  configs: SeedConfig[];
}

const API_COMMANDS: Record<string, ConfigCommand> = {
  linear_quantize_weights: "quantize",
  palettize_weights: "palettize",
  prune_weights: "prune",
};

const ACTIVATION_CONFIGS: unknown[] = [
  { config_type: "OpActivationLinearQuantizerConfig", global_config: {} },
  {
    config_type: "OpActivationLinearQuantizerConfig",
    global_config: { mode: "linear_symmetric", dtype: "int8" },
    op_type_configs: { conv: null },
  },
];

async function describeBase(path: string, compressed: boolean): Promise<BaseModel> {
  const model = await loadModel(path);
  try {
    const name = path
      .split("/")
      .pop()!
      .replace(/\.(mlpackage|mlmodel)$/, "");
    const format: ModelFormat = path.endsWith(".mlmodel") ? "mlmodel" : "mlpackage";
    const program = model.spec.Type.case === "mlProgram" ? "mlProgram" : "neuralNetwork";
    let inputs: SampleInput[] = [];
    let outputs: string[] = [];
    try {
      const runner = await loadRunner(model);
      const [sample] = randomSamples(runner.inputs, 1, 0);
      inputs = runner.inputs.map((io) => ({ name: io.name, npy: writeNpy(sample[io.name]) }));
      outputs = runner.outputs.map((io) => io.name);
    } catch {
      // Not runnable on the CPU: the run commands still get it, as a refusal to check.
    }
    return { name, path, format, program, compressed, inputs, outputs };
  } finally {
    await model.close();
  }
}

export async function loadSeeds(repoRoot: string): Promise<Seeds> {
  const golden = join(repoRoot, "fixtures/golden");
  const paths: [string, boolean][] = [
    ...readdirSync(join(golden, "bases")).map((n): [string, boolean] => [
      join(golden, "bases", n),
      false,
    ]),
    [join(repoRoot, "fixtures/runtime/tiny_lstm_fp32.mlpackage"), false],
    ...readdirSync(join(golden, "cases")).map((n): [string, boolean] => [
      join(golden, "cases", n),
      true,
    ]),
  ];
  const bases: BaseModel[] = [];
  for (const [path, compressed] of paths.sort(([a], [b]) => a.localeCompare(b))) {
    bases.push(await describeBase(path, compressed));
  }
  const cases = JSON.parse(readFileSync(join(golden, "cases.json"), "utf8")) as {
    cases: { api: string; config: Record<string, unknown> }[];
  };
  const configs: SeedConfig[] = [];
  for (const { api, config } of cases.cases) {
    if ("steps" in config) configs.push({ command: "compress", value: config });
    else if (API_COMMANDS[api]) configs.push({ command: API_COMMANDS[api], value: config });
  }
  configs.push(
    ...ACTIVATION_CONFIGS.map((value) => ({ command: "quantize-activations" as const, value })),
  );
  return { repoRoot, bases, configs };
}
