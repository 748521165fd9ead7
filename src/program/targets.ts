/** Deployment targets of ML programs: specification version and default opset name. */
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
