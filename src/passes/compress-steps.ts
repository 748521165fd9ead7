/**
 * Runs a list of compression steps, each on the previous step's output: the way to chain
 * pruning, palettization and quantization (jointly or not) in one call.
 */
import type { CompressionStep } from "../config/steps.js";
import type { MLModel } from "../format/model.js";
import { compressWeights, type CompressionOptions, type CompressionResult } from "./driver.js";
import { compressorFor } from "./registry.js";

export interface StepsOptions extends Omit<CompressionOptions, "joint"> {
  /** Called when a step starts (0-based), e.g. to title a progress bar. */
  onStep?: (index: number, pass: string) => void;
}

export interface StepResult extends CompressionResult {
  pass: string;
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
  const compressors = steps.map((step, index) => compressorFor(step.config, `steps[${index}]`));
  const results: StepResult[] = [];
  let current = model;
  try {
    for (const [index, step] of steps.entries()) {
      const compressor = compressors[index];
      onStep?.(index, compressor.passName);
      const result = await compressWeights(current, step.config, compressor, {
        ...options,
        raiseTarget: index === 0 ? raiseTarget : undefined,
        joint: step.joint,
      });
      if (current !== model) await current.close();
      current = result.model;
      results.push({ ...result, pass: compressor.passName });
    }
  } catch (error) {
    if (current !== model) await current.close();
    throw error;
  }
  return { model: current, steps: results };
}
