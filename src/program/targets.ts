/**
 * Deployment targets of ML programs (specification version and default opset name), the
 * checks that a model's target allows a feature, and raising a model's target.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ModelSchema } from "../format/gen/Model_pb.js";
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

/** The model with every ML program raised to at least `target` (spec version and opset). */
export function raiseTarget(model: MLModel, target: Target): MLModel {
  const { specificationVersion, opset } = TARGETS[target];
  // A binary round trip copies a program faster than clone() (mobilenet_v2: 13–21 ms against
  // 22–25 ms warm, 92 against 145 ms cold).
  const spec = fromBinary(ModelSchema, toBinary(ModelSchema, model.spec));
  let raised = false;
  for (const { model: nested } of modelTree(spec)) {
    if (nested.Type.case !== "mlProgram" || nested.specificationVersion >= specificationVersion) {
      continue;
    }
    raised = true;
    nested.specificationVersion = specificationVersion;
    for (const fn of Object.values(nested.Type.value.functions)) {
      const block = fn.blockSpecializations[fn.opset];
      if (!block) continue;
      delete fn.blockSpecializations[fn.opset];
      fn.blockSpecializations[opset] = block;
      fn.opset = opset;
    }
  }
  if (spec.specificationVersion < specificationVersion) {
    spec.specificationVersion = specificationVersion;
    raised = true;
  }
  return raised ? model.derive(spec, model.weightFiles) : model;
}
