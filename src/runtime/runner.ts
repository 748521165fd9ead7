/**
 * One way to run any model the CPU interpreters handle: ML programs (Interpreter) and neural
 * networks (NeuralNetworkInterpreter), on their own, as the chosen stage of a pipeline, or as
 * a whole pipeline of such stages (each stage reading the features named by its inputs).
 */
import { ConfigError } from "../errors.js";
import type { Model } from "../format/gen/Model_pb.js";
import type { MLModel } from "../format/model.js";
import type { Tensor } from "../kernels/dtype.js";
import { gemm } from "../kernels/ops/matmul.js";
import { neuralNetworkOf } from "../neural/walk.js";
import { validateNeuralNetworks } from "../neural/validate.js";
import { Interpreter, stageSpec, type LoadOptions, type ProgramIO } from "./interpreter.js";
import { NeuralNetworkInterpreter } from "./neural-network.js";
import { parallelGemm } from "./parallel-gemm.js";
import { fastGemm } from "./simd-gemm.js";
import type { ProgramState } from "./state.js";

export interface ModelRunner {
  readonly inputs: readonly ProgramIO[];
  readonly outputs: readonly ProgramIO[];
  /** State inputs of a stateful ML program (none for other models). */
  readonly states?: readonly ProgramIO[];
  /** States for a sequence of predictions (stateful ML programs). */
  newState?(initial?: Readonly<Record<string, Tensor>>): ProgramState;
  /** Outputs for one set of inputs; float outputs come back as fp32. */
  predict(
    inputs: Record<string, Tensor>,
    options?: { state?: ProgramState },
  ): Record<string, Tensor>;
}

/** Prepares a model to run; fails (before running anything) on ops or layers it cannot run. */
export async function loadRunner(model: MLModel, options: LoadOptions = {}): Promise<ModelRunner> {
  validateNeuralNetworks(model);
  const stages = options.pipelineStage === undefined ? pipelineStages(model.spec) : undefined;
  if (stages?.every((stage) => neuralNetworkOf(stage) || stage.Type.case === "mlProgram")) {
    return pipelineRunner(model, stages.length, options);
  }
  const spec = stageSpec(model.spec, options.pipelineStage);
  if (neuralNetworkOf(spec)) {
    const plain = options.pool ? parallelGemm(options.pool) : gemm;
    return NeuralNetworkInterpreter.fromSpec(
      spec,
      options.reference ? plain : fastGemm(options.pool),
    );
  }
  return Interpreter.load(model, options);
}

/** The models of a pipeline (of any of the three kinds), or undefined for other models. */
function pipelineStages(spec: Model): Model[] | undefined {
  const type = spec.Type;
  if (type.case === "pipeline") return type.value.models;
  if (type.case === "pipelineClassifier" || type.case === "pipelineRegressor") {
    return type.value.pipeline?.models;
  }
  return undefined;
}

/**
 * A pipeline run stage by stage: each stage reads the pipeline's inputs and what the stages
 * before it computed, by name; the pipeline's outputs are the last values of those names.
 */
async function pipelineRunner(
  model: MLModel,
  count: number,
  options: LoadOptions,
): Promise<ModelRunner> {
  const stages: ModelRunner[] = [];
  for (let i = 0; i < count; i++)
    stages.push(await loadRunner(model, { ...options, pipelineStage: i }));
  const description = model.spec.description;
  const stageInputs = stages.flatMap((s) => s.inputs);
  // The last stage that computes a name gives its value.
  const stageOutputs = stages.flatMap((s) => s.outputs).reverse();
  const inputs = (description?.input ?? []).flatMap(
    ({ name }) => stageInputs.find((io) => io.name === name) ?? [],
  );
  const outputs = (description?.output ?? []).map(({ name }) => {
    const io = stageOutputs.find((o) => o.name === name);
    if (!io) throw new ConfigError(`no stage of the pipeline computes its output "${name}"`);
    return io;
  });
  return {
    inputs,
    outputs,
    predict(given) {
      const features: Record<string, Tensor> = { ...given };
      stages.forEach((stage, i) => {
        const reads: Record<string, Tensor> = {};
        for (const { name } of stage.inputs) {
          const value = features[name];
          if (!value)
            throw new ConfigError(`pipeline stage ${i} reads "${name}", which nothing computes`);
          reads[name] = value;
        }
        Object.assign(features, stage.predict(reads));
      });
      return Object.fromEntries(outputs.map(({ name }) => [name, features[name]]));
    },
  };
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
