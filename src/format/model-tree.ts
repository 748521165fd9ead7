/** Reaching every model nested in pipelines. */
import type { Model } from "./gen/Model_pb.js";

export interface NestedModel {
  model: Model;
  /** Names from the root down ("" for the root, else pipeline member names or indices). */
  path: string[];
}

/** The pipeline holding a model's sub-models, if it is one of the three pipeline types. */
function pipelineOf(model: Model) {
  switch (model.Type.case) {
    case "pipeline":
      return model.Type.value;
    case "pipelineClassifier":
    case "pipelineRegressor":
      return model.Type.value.pipeline;
    default:
      return undefined;
  }
}

/** The model and, depth first, every model nested in it. */
export function* modelTree(model: Model, path: string[] = []): Generator<NestedModel> {
  yield { model, path };
  const pipeline = pipelineOf(model);
  if (!pipeline) return;
  for (let i = 0; i < pipeline.models.length; i++) {
    yield* modelTree(pipeline.models[i], [...path, pipeline.names[i] || String(i)]);
  }
}
