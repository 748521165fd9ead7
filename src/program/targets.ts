/**
 * Deployment targets of ML programs (specification version and default opset name), the
 * checks that a model's target allows a feature, and raising a model's target.
 */
import type { Model, Pipeline } from "../format/gen/Model_pb.js";
import type { Program } from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/ml-model.js";
import { modelTree } from "../format/model-tree.js";
import { ConfigError } from "../errors.js";

export const TARGETS = {
  iOS15: { specificationVersion: 6, opset: "CoreML5" },
  iOS16: { specificationVersion: 7, opset: "CoreML6" },
  iOS17: { specificationVersion: 8, opset: "CoreML7" },
  iOS18: { specificationVersion: 9, opset: "CoreML8" },
  iOS26: { specificationVersion: 10, opset: "CoreML9" },
} as const;

export type Target = keyof typeof TARGETS;

export function parseTarget(name: string): Target {
  const match = (Object.keys(TARGETS) as Target[]).find(
    (t) => t.toLowerCase() === name.toLowerCase(),
  );
  if (!match) {
    throw new ConfigError(
      `unknown deployment target "${name}" (expected one of ${Object.keys(TARGETS).join(", ")})`,
    );
  }
  return match;
}

/** The newest target whose specification version is at most `version`. */
export function targetOfSpecificationVersion(version: number): Target | undefined {
  let found: Target | undefined;
  for (const [name, t] of Object.entries(TARGETS) as [Target, (typeof TARGETS)[Target]][]) {
    if (t.specificationVersion <= version) found = name;
  }
  return found;
}

/** Whether a model of specification `version` has what `target` introduced. */
export function supports(version: number, target: Target): boolean {
  return version >= TARGETS[target].specificationVersion;
}

/**
 * Fails when a model of specification `version` is older than `target`, which `feature` needs,
 * saying how to raise it.
 */
export function requireTarget(version: number, target: Target, feature: string): void {
  if (supports(version, target)) return;
  const current = targetOfSpecificationVersion(version) ?? `specification version ${version}`;
  throw new ConfigError(
    `${feature} needs ${target} or newer, the model targets ${current}: raise the target ` +
      `(CLI --target ${target.toLowerCase()}, API raiseTarget: "${target}")`,
  );
}

/**
 * The model with every ML program raised to at least `target` (spec version and opset). Only
 * the messages on the way to what changes are copied; the rest (the programs' blocks) is
 * shared with the input, which stays as it is.
 */
export function raiseTarget(model: MLModel, target: Target): MLModel {
  const { specificationVersion } = TARGETS[target];
  const older = [...modelTree(model.spec)].some(
    ({ model: nested, path }) =>
      nested.specificationVersion < specificationVersion &&
      (path.length === 0 || nested.Type.case === "mlProgram"),
  );
  if (!older) return model;
  const spec = raisedModel(model.spec, target);
  spec.specificationVersion = Math.max(spec.specificationVersion, specificationVersion);
  return model.derive(spec, model.weightFiles);
}

/** A copy of `model` whose ML programs, here and nested in pipelines, are raised to `target`. */
function raisedModel(model: Model, target: Target): Model {
  const { specificationVersion, opset } = TARGETS[target];
  const type = model.Type;
  switch (type.case) {
    case "mlProgram":
      if (model.specificationVersion >= specificationVersion) return { ...model };
      return {
        ...model,
        specificationVersion,
        Type: { case: type.case, value: raisedProgram(type.value, opset) },
      };
    case "pipeline":
      return { ...model, Type: { case: type.case, value: raisedPipeline(type.value, target) } };
    case "pipelineClassifier": {
      const value = { ...type.value, pipeline: raisedPipeline(type.value.pipeline, target) };
      return { ...model, Type: { case: type.case, value } };
    }
    case "pipelineRegressor": {
      const value = { ...type.value, pipeline: raisedPipeline(type.value.pipeline, target) };
      return { ...model, Type: { case: type.case, value } };
    }
    default:
      return { ...model };
  }
}

function raisedPipeline<P extends Pipeline | undefined>(pipeline: P, target: Target): P {
  if (!pipeline) return pipeline;
  return { ...pipeline, models: pipeline.models.map((nested) => raisedModel(nested, target)) };
}

/** The program with each function's block under `opset`. */
function raisedProgram(program: Program, opset: string): Program {
  const functions: Program["functions"] = {};
  for (const [name, fn] of Object.entries(program.functions)) {
    const block = fn.blockSpecializations[fn.opset];
    if (!block) {
      functions[name] = fn;
      continue;
    }
    const blockSpecializations = { ...fn.blockSpecializations };
    delete blockSpecializations[fn.opset];
    blockSpecializations[opset] = block;
    functions[name] = { ...fn, opset, blockSpecializations };
  }
  return { ...program, functions };
}
