/**
 * Sequential calibration (GPTQ's layer-by-layer mode): the weights are compressed in program
 * order, a stage at a time, and each stage's statistics are gathered on the model whose earlier
 * weights are already compressed, so each compression also answers the error the ones before it
 * let through. A stage is the run of weights whose ops read the same activation (a block's q,
 * k and v projections): they see the same inputs either way. One calibration run per stage.
 */
import type { Operation } from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/model.js";
import type { OptimizationConfig } from "../config/optimization-config.js";
import type { Tensor } from "../kernels/dtype.js";
import type { CompressionOptions, CompressionResult } from "../passes/driver.js";
import { compressModel } from "../passes/registry.js";
import type { ProgressCallback } from "../progress.js";
import { inputNames } from "../program/ops.js";
import {
  calibratedFunction,
  calibratedWeights,
  collectInputStatistics,
  InputStatisticsTable,
} from "./statistics.js";

export interface SequentialOptions extends CompressionOptions {
  /** Progress over all stages' calibration runs. */
  onCalibrationProgress?: ProgressCallback;
}

/** The operands an op reads its activation from, by the kinds calibration covers. */
const ACTIVATION_INPUTS = ["x", "y", "indices"];

/** The weights calibration covers, in stages: runs of weights read with the same activation. */
export function calibrationStages(operations: readonly Operation[]): string[][] {
  const constants = new Set(
    operations.filter((op) => op.type === "const").map((op) => op.outputs[0].name),
  );
  const activationOf = (reader: Operation) =>
    ACTIVATION_INPUTS.map((input) => inputNames(reader, input)[0]).find(
      (name) => name !== undefined && !constants.has(name),
    );
  const stages: { activation: string | undefined; weights: string[] }[] = [];
  for (const { weight, reader } of calibratedWeights(operations)) {
    const activation = activationOf(reader);
    const last = stages[stages.length - 1];
    if (last && activation !== undefined && last.activation === activation) {
      last.weights.push(weight);
    } else stages.push({ activation, weights: [weight] });
  }
  return stages.map((stage) => stage.weights);
}

/** Compresses `model` by `config` stage by stage, calibrating each stage on what precedes it. */
export async function compressSequentially(
  model: MLModel,
  config: OptimizationConfig,
  samples: readonly Record<string, Tensor>[],
  options: SequentialOptions,
): Promise<CompressionResult> {
  const { onCalibrationProgress, ...compression } = options;
  const { functionName, block } = calibratedFunction(model, options.functionName);
  const stages = calibrationStages(block.operations);
  const staged = new Set(stages.flat());
  const total = stages.length * samples.length;
  let current = model;
  const weights: CompressionResult["weights"] = [];
  const skipped: CompressionResult["skipped"] = [];
  const step = async (
    calibration: InputStatisticsTable,
    accepts: (name: string) => boolean,
  ): Promise<void> => {
    const result = await compressModel(current, config, {
      ...compression,
      // The first step raises the target; later ones start from its result.
      raiseTarget: current === model ? compression.raiseTarget : undefined,
      calibration,
      weights: accepts,
    });
    if (current !== model) await current.close();
    current = result.model;
    weights.push(...result.weights);
    skipped.push(...result.skipped);
  };
  try {
    for (const [index, stage] of stages.entries()) {
      const members = new Set(stage);
      const calibration = await collectInputStatistics(current, samples, {
        gram: true,
        pool: options.pool,
        functionName,
        weights: members,
        onProgress: (event) =>
          onCalibrationProgress?.({ ...event, done: index * samples.length + event.done, total }),
      });
      await step(calibration, (name) => members.has(name));
    }
    // Weights calibration does not cover: the data-free way, as the report says.
    await step(new InputStatisticsTable(functionName, new Map(), samples.length), (name) => {
      return !staged.has(name);
    });
  } catch (error) {
    if (current !== model) await current.close();
    throw error;
  }
  return { model: current, weights, skipped };
}
