/**
 * Models as plain byte arrays by relative path, for hosts without a file system (browsers) or
 * that keep models in memory: an `.mlpackage`'s files, or one `.mlmodel`.
 */
import { decodeModel, encodeModel, loadPackage, MANIFEST_FILE, MLModel } from "./ml-model.js";
import { MemoryPackageSink, MemoryPackageStore } from "./package-store.js";
import { FormatError } from "../errors.js";

/** Files of a model by path relative to the package (or the one `.mlmodel`'s name). */
export type ModelFiles = ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>;

/** The name `modelToFiles` gives a model saved as a single `.mlmodel`. */
export const MLMODEL_FILE = "model.mlmodel";

/**
 * Paths relative to the package root: '/'-separated, without a leading "./" or "/", and without
 * the `Name.mlpackage/` folder that folder pickers put in front of every file.
 */
function packagePaths(files: ModelFiles): Map<string, Uint8Array> {
  const entries = files instanceof Map ? [...files] : Object.entries(files);
  let normalized = entries.map(([path, bytes]): [string, Uint8Array] => [
    path.replaceAll("\\", "/").replace(/^(\.?\/)+/, ""),
    bytes,
  ]);
  const top = normalized[0]?.[0].split("/")[0];
  if (top?.endsWith(".mlpackage") && normalized.every(([path]) => path.startsWith(`${top}/`))) {
    normalized = normalized.map(([path, bytes]) => [path.slice(top.length + 1), bytes]);
  }
  return new Map(normalized);
}

/** Loads a model from its files: an `.mlpackage`'s files by relative path, or one `.mlmodel`. */
export async function loadModelFromFiles(files: ModelFiles): Promise<MLModel> {
  const paths = packagePaths(files);
  if (paths.has(MANIFEST_FILE)) return loadPackage(new MemoryPackageStore(paths));
  if (paths.size === 1) {
    const [[name, bytes]] = paths;
    return new MLModel(decodeModel(bytes, name));
  }
  throw new FormatError(
    "model files",
    `no ${MANIFEST_FILE} among ${paths.size} files: expected an .mlpackage's files or one .mlmodel`,
  );
}

/**
 * The files of `model` by relative path: an `.mlpackage`'s files, or `{ "model.mlmodel": ... }`
 * for a model without weight files or package (a neural network read from an `.mlmodel`).
 */
export async function modelToFiles(model: MLModel): Promise<Map<string, Uint8Array>> {
  if (model.format === "mlmodel") return new Map([[MLMODEL_FILE, encodeModel(model.spec)]]);
  const sink = new MemoryPackageSink();
  await model.writePackage(sink);
  return sink.files;
}
