/**
 * Runs a list of compression steps, each on the previous step's output: the way to chain
 * pruning, palettization and quantization (jointly or not) in one call.
 */
import { LINEAR_QUANTIZER } from "../config/linear-quantizer.js";
import { allConfigs, type OptimizationConfig } from "../config/optimization-config.js";
import { PALETTIZER } from "../config/palettizer.js";
import { PRUNER_KINDS } from "../config/pruner.js";
import type { CompressionStep } from "../config/steps.js";
import { ConfigError } from "../errors.js";
import type { MLModel } from "../format/model.js";
import type { CompressionOptions, CompressionResult } from "./driver.js";
import { linearQuantizeWeights } from "./linear-quantize.js";
import { palettizeWeights } from "./palettize.js";
import { pruneWeights } from "./prune.js";

export interface StepsOptions extends Omit<CompressionOptions, "joint"> {
  /** Called when a step starts (0-based), e.g. to title a progress bar. */
  onStep?: (index: number, pass: string) => void;
}

export interface StepResult extends CompressionResult {
  pass: string;
}

type Pass = (
  model: MLModel,
  config: OptimizationConfig,
  options: StepsOptions & { joint: boolean },
) => Promise<CompressionResult>;

const PASSES: { name: string; kinds: readonly string[]; run: Pass }[] = [
  {
    name: "linear_quantize_weights",
    kinds: [LINEAR_QUANTIZER],
    run: (m, c, o) => linearQuantizeWeights(m, c as never, o),
  },
  {
    name: "palettize_weights",
    kinds: [PALETTIZER],
    run: (m, c, o) => palettizeWeights(m, c as never, o),
  },
  { name: "prune_weights", kinds: PRUNER_KINDS, run: (m, c, o) => pruneWeights(m, c as never, o) },
];

function passFor(config: OptimizationConfig, index: number) {
  const kinds = new Set(allConfigs(config).map((c) => c.kind));
  const pass = PASSES.find((p) => [...kinds].every((kind) => p.kinds.includes(kind)));
  if (!pass || kinds.size === 0) {
    throw new ConfigError(
      `steps[${index}]: a step needs the configs of one compression (got ${[...kinds].join(", ") || "none"})`,
    );
  }
  return pass;
}

/**
 * Applies `steps` in order and returns the last model with every step's report. Intermediate
 * models are closed (their temporary weight files removed) as soon as the next one exists.
 */
export async function compressInSteps(
  model: MLModel,
  steps: readonly CompressionStep[],
  { raiseTarget, onStep, ...options }: StepsOptions = {},
): Promise<{ model: MLModel; steps: StepResult[] }> {
  const passes = steps.map((step, index) => passFor(step.config, index));
  const results: StepResult[] = [];
  let current = model;
  try {
    for (const [index, step] of steps.entries()) {
      onStep?.(index, passes[index].name);
      const result = await passes[index].run(current, step.config, {
        ...options,
        raiseTarget: index === 0 ? raiseTarget : undefined,
        joint: step.joint,
      });
      if (current !== model) await current.close();
      current = result.model;
      results.push({ ...result, pass: passes[index].name });
    }
  } catch (error) {
    if (current !== model) await current.close();
    throw error;
  }
  return { model: current, steps: results };
}
