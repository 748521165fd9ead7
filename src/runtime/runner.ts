/**
 * One way to run any model the CPU interpreters handle: ML programs (Interpreter) and neural
 * networks (NeuralNetworkInterpreter), on their own or as the chosen stage of a pipeline.
 */
import type { MLModel } from "../format/model.js";
import type { Tensor } from "../kernels/dtype.js";
import { gemm } from "../kernels/ops/matmul.js";
import { neuralNetworkOf } from "../neural/walk.js";
import { validateNeuralNetworks } from "../neural/validate.js";
import { Interpreter, stageSpec, type LoadOptions, type ProgramIO } from "./interpreter.js";
import { NeuralNetworkInterpreter } from "./neural-network.js";
import { parallelGemm } from "./parallel-gemm.js";

export interface ModelRunner {
  readonly inputs: readonly ProgramIO[];
  readonly outputs: readonly ProgramIO[];
  /** Outputs for one set of inputs; float outputs come back as fp32. */
  predict(inputs: Record<string, Tensor>): Record<string, Tensor>;
}

/** Prepares a model to run; fails (before running anything) on ops or layers it cannot run. */
export async function loadRunner(model: MLModel, options: LoadOptions = {}): Promise<ModelRunner> {
  validateNeuralNetworks(model);
  const spec = stageSpec(model.spec, options.pipelineStage);
  if (neuralNetworkOf(spec)) {
    return NeuralNetworkInterpreter.fromSpec(
      spec,
      options.pool ? parallelGemm(options.pool) : gemm,
    );
  }
  return Interpreter.load(model, options);
}

const loaded = new WeakMap<MLModel, Promise<ModelRunner>>();

/**
 * Runs a model on one set of inputs (prepared once per model object and reused). Inputs are
 * converted to the model's input types; float outputs are returned as fp32.
 */
export async function predict(
  model: MLModel,
  inputs: Record<string, Tensor>,
): Promise<Record<string, Tensor>> {
  let runner = loaded.get(model);
  if (!runner) {
    runner = loadRunner(model);
    loaded.set(model, runner);
    runner.catch(() => loaded.delete(model));
  }
  return (await runner).predict(inputs);
}
