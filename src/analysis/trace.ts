/**
 * Every intermediate value of a model run, as it is computed: the one view of ML programs
 * (each op's outputs) and neural networks (each layer's blobs) that per-op comparisons need.
 */
import { UnsupportedError } from "../errors.js";
import type { MLModel } from "../format/model.js";
import type { Tensor } from "../kernels/dtype.js";
import { Interpreter, type LoadOptions } from "../runtime/interpreter.js";
import { NeuralNetworkInterpreter } from "../runtime/neural-network.js";
import { loadRunner, type ModelRunner } from "../runtime/runner.js";
import type { NumericValue } from "../runtime/value.js";
import { opName } from "../program/ops.js";

/** One value a run computed: not to be modified or kept (copy it). */
export interface TracedValue {
  name: string;
  /** The op (ML programs) or layer (neural networks) that computed it, and its type. */
  op: string;
  opType: string;
  /** The values the op or layer read (constants included). */
  reads: readonly string[];
  value: NumericValue;
}

export interface TracedRunner {
  readonly runner: ModelRunner;
  /** Runs one sample, calling `see` for every value as it is computed; returns the outputs. */
  trace(sample: Record<string, Tensor>, see: (value: TracedValue) => void): Record<string, Tensor>;
}

/** Loads a model for tracing; pipelines must name a stage (their values span programs). */
export async function loadTracedRunner(
  model: MLModel,
  options: LoadOptions = {},
): Promise<TracedRunner> {
  const runner = await loadRunner(model, options);
  if (runner instanceof Interpreter) {
    return {
      runner,
      trace: (sample, see) =>
        runner.predict(sample, {
          observe: (name, value, op) =>
            see({
              name,
              op: opName(op),
              opType: op.type,
              reads: Object.values(op.inputs).flatMap((a) =>
                a.arguments.flatMap((b) => (b.binding.case === "name" ? [b.binding.value] : [])),
              ),
              value,
            }),
        }),
    };
  }
  if (runner instanceof NeuralNetworkInterpreter) {
    return {
      runner,
      trace: (sample, see) =>
        runner.predict(sample, {
          observe: (name, value, layer) =>
            see({ name, op: layer.name, opType: "layer", reads: layer.inputs, value }),
        }),
    };
  }
  throw new UnsupportedError(
    "per-value comparisons run one ML program or neural network: choose a pipeline stage (--stage)",
  );
}
