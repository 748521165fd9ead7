/**
 * Sequential calibration (GPTQ's layer-by-layer mode): the weights are compressed in program
 * order, a stage at a time, and each stage's statistics are gathered on the model whose earlier
 * weights are already compressed, so each compression also answers the error the ones before it
 * let through. A stage is the run of weights whose ops read the same activation (a block's q,
 * k and v projections): they see the same inputs either way. One calibration run per stage
 * whose weights a data-aware config compresses; the weights of other stages are compressed the
 * data-free way, in order, before the next calibration run sees them.
 */
import type { Block, Operation } from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/model.js";
import { configForWeight, type OptimizationConfig } from "../config/optimization-config.js";
import type { Tensor } from "../kernels/dtype.js";
import { checkOpNames, type CompressionOptions, type CompressionResult } from "../passes/driver.js";
import { compressModel } from "../passes/registry.js";
import type { ProgressCallback } from "../progress.js";
import { BlockGraph } from "../program/graph.js";
import { inputNames, opName } from "../program/ops.js";
import { tensorTypeInfo } from "../program/types.js";
import { usesCalibration } from "./algorithms.js";
import {
  calibratedFunction,
  calibratedWeights,
  collectInputStatistics,
  InputStatisticsTable,
  type RunCheckpoint,
} from "./statistics.js";

export interface SequentialOptions extends CompressionOptions {
  /** Progress over all stages' calibration runs. */
  onCalibrationProgress?: ProgressCallback;
}

/** The operands an op reads its activation from, by the kinds calibration covers. */
const ACTIVATION_INPUTS = ["x", "y", "indices"];

/** Weights (const op names) read with the same activation, when their readers have one. */
export interface CalibrationStage {
  activation: string | undefined;
  weights: string[];
}

/** The weights calibration covers, in stages: runs of weights read with the same activation. */
export function calibrationStages(operations: readonly Operation[]): CalibrationStage[] {
  const constants = new Set(
    operations.filter((op) => op.type === "const").map((op) => op.outputs[0].name),
  );
  const activationOf = (reader: Operation) =>
    ACTIVATION_INPUTS.map((input) => inputNames(reader, input)[0]).find(
      (name) => name !== undefined && !constants.has(name),
    );
  const stages: CalibrationStage[] = [];
  for (const { weight, reader } of calibratedWeights(operations)) {
    const activation = activationOf(reader);
    const last = stages[stages.length - 1];
    if (last && activation !== undefined && last.activation === activation) {
      last.weights.push(weight);
    } else stages.push({ activation, weights: [weight] });
  }
  return stages;
}

/**
 * The block's top-level consts by op name, each with where it is first read: the position of
 * its first top-level reader in program order (the end when nothing at the top level reads it).
 */
function constsByFirstRead(
  block: Block,
): Map<string, { op: Operation; firstRead: number; consumers: Operation[] }> {
  const graph = new BlockGraph(block);
  const positions = new Map(block.operations.map((op, position) => [op, position]));
  const consts = new Map<string, { op: Operation; firstRead: number; consumers: Operation[] }>();
  for (const op of block.operations) {
    if (op.type !== "const") continue;
    const consumers = graph.consumers(op.outputs[0].name);
    const firstRead = Math.min(
      block.operations.length,
      ...consumers.map((c) => positions.get(c) ?? block.operations.length),
    );
    consts.set(opName(op), { op, firstRead, consumers });
  }
  return consts;
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
  // Each step checks only its own weights' names (earlier steps have renamed theirs): all at once.
  if (!options.joint) checkOpNames(config, model);
  const consts = constsByFirstRead(block);
  const stages = calibrationStages(block.operations).filter((stage) =>
    stage.weights.some((name) => {
      const { op, consumers } = consts.get(name)!;
      return usesCalibration(configForWeight(config, op, consumers));
    }),
  );
  const staged = new Set(stages.flatMap((stage) => stage.weights));
  const total = stages.length * samples.length;
  const empty = new InputStatisticsTable(functionName, new Map(), samples.length);
  // Weights no stage calibrates are compressed data-free, in order: before each stage, those
  // first read in [readUpTo, end); at the end, the rest (nested blocks' weights among them).
  let readUpTo = 0;
  const uncalibratedBefore = (end: number) => (name: string) => {
    const firstRead = consts.get(name)?.firstRead ?? Number.MAX_SAFE_INTEGER;
    return !staged.has(name) && firstRead >= readUpTo && firstRead < end;
  };
  const anyMatrixBefore = (end: number) =>
    [...consts].some(
      ([name, { op }]) =>
        uncalibratedBefore(end)(name) &&
        (tensorTypeInfo(op.outputs[0].type)?.shape.length ?? 0) > 1,
    );
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
    // Each run resumes where the previous stage's activation is first read: the model changes
    // only from there on (that stage's weights and the data-free ones after it).
    let kept: RunCheckpoint | undefined;
    for (const [index, { activation, weights: stage }] of stages.entries()) {
      const members = new Set(stage);
      // The weights before this stage that no stage calibrates go first, data-free.
      const first = Math.min(...stage.map((name) => consts.get(name)!.firstRead));
      if (anyMatrixBefore(first)) await step(empty, uncalibratedBefore(first));
      readUpTo = first;
      const keep = activation === undefined ? undefined : { activation, values: [] };
      const calibration = await collectInputStatistics(current, samples, {
        gram: true,
        pool: options.pool,
        functionName,
        weights: members,
        resume: kept,
        keep,
        onProgress: (event) =>
          onCalibrationProgress?.({ ...event, done: index * samples.length + event.done, total }),
      });
      await step(calibration, (name) => members.has(name));
      kept = keep?.values.length === samples.length ? keep : undefined;
    }
    // The rest that calibration does not cover: the data-free way, as the report says.
    await step(empty, uncalibratedBefore(Infinity));
  } catch (error) {
    if (current !== model) await current.close();
    throw error;
  }
  return { model: current, weights, skipped };
}
