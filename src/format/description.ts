/**
 * Checks of a model's interface (its inputs' and outputs' feature types) that every consumer
 * relies on: fixed image and array sizes are real sizes, so nothing allocates by a corrupt one.
 */
import type { FeatureDescription } from "./gen/Model_pb.js";
import type { Model } from "./gen/Model_pb.js";
import { modelTree } from "./model-tree.js";
import { FormatError } from "../errors.js";

/** No input dimension comes near this: larger numbers are corrupt, not sizes. */
const MAX_SIZE = 2 ** 31;

function isSize(value: bigint): boolean {
  return value > 0n && value < BigInt(MAX_SIZE);
}

function checkFeature(feature: FeatureDescription, where: string): void {
  const label = `${where}: feature "${feature.name}"`;
  if (feature.name === "") throw new FormatError(where, "has a feature without a name");
  const type = feature.type?.Type;
  if (type?.case === "imageType") {
    const image = type.value;
    const flexible = image.SizeFlexibility.case !== undefined;
    if (!flexible && !(isSize(image.width) && isSize(image.height))) {
      throw new FormatError(
        label,
        `image of ${image.width} × ${image.height} pixels is not a size`,
      );
    }
  } else if (type?.case === "multiArrayType") {
    const dims = type.value.shape;
    if (dims.some((d) => !isSize(d))) {
      throw new FormatError(
        label,
        `array shape [${dims.join(",")}] has a dimension that is not a size`,
      );
    }
  }
}

/** Checks every input and output description of `spec` and the models nested in it. */
export function checkFeatureDescriptions(spec: Model, where: string): void {
  for (const { model, path } of modelTree(spec)) {
    const at = path.length > 0 ? `${where}: ${path.join("/")}` : where;
    for (const feature of model.description?.input ?? []) checkFeature(feature, at);
    for (const feature of model.description?.output ?? []) checkFeature(feature, at);
  }
}
