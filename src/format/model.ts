/**
 * Core ML model files: `.mlmodel` (one protobuf) and `.mlpackage` (a folder with a manifest,
 * the model protobuf, weight files and any other items, which are kept as they are).
 * Weight files are opened lazily and read by offset; nothing loads a whole weight file.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { constants } from "node:fs";
import * as fs from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { ModelSchema, type Model } from "./gen/Model_pb.js";
import { BlobFileReader } from "./blob/reader.js";
import type { RandomAccessReader } from "./blob/io.js";
import { openFileReader } from "./io-node.js";
import {
  formatManifest,
  newManifest,
  parseManifest,
  rootModelItem,
  type Manifest,
} from "./manifest.js";
import { CoreMLOptimizeError, FormatError } from "../errors.js";

export type ModelFormat = "mlmodel" | "mlpackage";

/** Prefix of blob file names in ML programs: the folder holding the model spec. */
export const MODEL_PATH_PREFIX = "@model_path/";
export const DEFAULT_WEIGHT_FILE = "@model_path/weights/weight.bin";

/** Where the bytes of one weight file come from. */
export interface WeightFileSource {
  open(): Promise<RandomAccessReader>;
  /** The file on disk, when there is one (lets `save` copy or move it instead of streaming). */
  path?: string;
  /** A file this process created and may move into the saved package. */
  temporary?: boolean;
}

/** What an `.mlpackage` holds besides the model spec and weights. */
export interface PackageInfo {
  manifest: Manifest;
  /** The package folder it was read from, if any: other items are copied from there. */
  directory?: string;
}

export function decodeModel(bytes: Uint8Array, file: string): Model {
  try {
    return fromBinary(ModelSchema, bytes);
  } catch (error) {
    throw new FormatError(file, `not a valid Core ML model protobuf (${(error as Error).message})`);
  }
}

export function encodeModel(spec: Model): Uint8Array {
  return toBinary(ModelSchema, spec);
}

async function fileSource(path: string): Promise<WeightFileSource> {
  return { path, open: () => openFileReader(path) };
}

export class MLModel {
  private readonly readers = new Map<string, Promise<BlobFileReader>>();

  constructor(
    public spec: Model,
    readonly weightFiles: Map<string, WeightFileSource> = new Map(),
    private packageInfo?: PackageInfo,
    /** The file or folder this model was loaded from. */
    readonly sourcePath?: string,
  ) {}

  get format(): ModelFormat {
    return this.packageInfo || this.weightFiles.size > 0 ? "mlpackage" : "mlmodel";
  }

  /**
   * A model with a new spec and weight files that otherwise shares this one's package items;
   * it refuses to be saved over this model's source.
   */
  derive(spec: Model, weightFiles: Map<string, WeightFileSource>): MLModel {
    const derived = new MLModel(spec, weightFiles, this.packageInfo, undefined);
    derived.protectedPaths = [
      ...this.protectedPaths,
      ...(this.sourcePath ? [this.sourcePath] : []),
    ];
    return derived;
  }

  /** Paths `save` must not overwrite: the inputs this model was derived from. */
  private protectedPaths: string[] = [];

  /** A reader for a blob file referenced by the program (e.g. `@model_path/weights/weight.bin`). */
  blobFile(fileName: string): Promise<BlobFileReader> {
    let reader = this.readers.get(fileName);
    if (!reader) {
      const source = this.weightFiles.get(fileName);
      if (!source) {
        const where = this.sourcePath ?? "model";
        return Promise.reject(
          new FormatError(where, `weight file ${fileName} is referenced but not in the package`),
        );
      }
      const label = source.path ?? fileName;
      reader = source.open().then((r) => BlobFileReader.open(r, label));
      // A failed open is reported to every caller, not cached as a broken reader.
      reader.catch(() => this.readers.delete(fileName));
      this.readers.set(fileName, reader);
    }
    return reader;
  }

  /** Closes open weight files and deletes temporary ones that were not saved. */
  async close(): Promise<void> {
    const readers = [...this.readers.values()];
    this.readers.clear();
    await Promise.allSettled(readers.map(async (r) => (await r).close()));
    for (const source of this.weightFiles.values()) {
      if (source.temporary && source.path) await fs.rm(source.path, { force: true });
    }
  }

  /**
   * Writes the model to `path` (`.mlpackage` folder or `.mlmodel` file), atomically: into a
   * temporary sibling first, then renamed into place. Refuses to overwrite the model's own source.
   */
  async save(path: string): Promise<void> {
    const target = resolve(path);
    const inputs = [...this.protectedPaths, ...(this.sourcePath ? [this.sourcePath] : [])];
    if (inputs.some((p) => resolve(p) === target)) {
      throw new CoreMLOptimizeError(`${path}: refusing to overwrite the input model`);
    }
    if (target.endsWith(".mlmodel")) {
      if (this.weightFiles.size > 0) {
        throw new CoreMLOptimizeError(
          `${path}: this model has weight files (an ML program); save it as an .mlpackage`,
        );
      }
      await writeAtomically(target, async (temp) => fs.writeFile(temp, encodeModel(this.spec)));
      return;
    }
    await writeAtomically(target, (temp) => this.writePackage(temp));
    // Temporary weight files were moved into the package; the package now holds them.
    for (const [name, source] of this.weightFiles) {
      if (source.temporary) {
        this.weightFiles.set(name, await fileSource(join(target, this.packagePathOf(name))));
        const reader = this.readers.get(name);
        this.readers.delete(name);
        if (reader) await (await reader.catch(() => undefined))?.close();
      }
    }
  }

  /** The package manifest (a new one for models not read from a package). */
  get manifest(): Manifest {
    this.packageInfo ??= { manifest: newManifest() };
    return this.packageInfo.manifest;
  }

  /** Path, inside the package folder, of a weight file named as the program names it. */
  packagePathOf(fileName: string): string {
    const modelDir = dirname(join("Data", rootModelItem(this.manifest).path));
    return join(modelDir, weightRelativePath(fileName));
  }

  private async writePackage(dir: string): Promise<void> {
    const manifest = this.manifest;
    const modelItem = rootModelItem(manifest);
    const dataDir = join(dir, "Data");
    // Items other than the model spec and weights (e.g. Xcode overlays) are copied unchanged.
    if (this.packageInfo?.directory) {
      for (const item of Object.values(manifest.itemInfoEntries)) {
        if (item === modelItem || item.name === "weights") continue;
        const from = join(this.packageInfo.directory, "Data", item.path);
        const to = join(dataDir, item.path);
        await fs.mkdir(dirname(to), { recursive: true });
        await fs.cp(from, to, { recursive: true }).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== "ENOENT") throw error;
        });
      }
    }
    const modelPath = join(dataDir, modelItem.path);
    await fs.mkdir(dirname(modelPath), { recursive: true });
    await fs.writeFile(modelPath, encodeModel(this.spec));
    for (const [name, source] of this.weightFiles) {
      const to = join(dir, this.packagePathOf(name));
      await fs.mkdir(dirname(to), { recursive: true });
      await placeWeightFile(source, to);
    }
    await fs.writeFile(join(dir, "Manifest.json"), formatManifest(manifest));
  }
}

function weightRelativePath(fileName: string): string {
  const relative = fileName.startsWith(MODEL_PATH_PREFIX)
    ? fileName.slice(MODEL_PATH_PREFIX.length)
    : fileName;
  if (relative.split("/").includes("..") || relative.startsWith("/")) {
    throw new CoreMLOptimizeError(`weight file name ${fileName} points outside the package`);
  }
  return relative;
}

async function placeWeightFile(source: WeightFileSource, to: string): Promise<void> {
  if (source.path && source.temporary) {
    try {
      await fs.rename(source.path, to);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
    }
  }
  if (source.path) {
    await fs.copyFile(source.path, to, constants.COPYFILE_FICLONE);
    return;
  }
  const reader = await source.open();
  try {
    const handle = await fs.open(to, "w");
    try {
      const chunk = 8 << 20;
      for (let position = 0; position < reader.size; position += chunk) {
        await handle.write(await reader.read(position, Math.min(chunk, reader.size - position)));
      }
    } finally {
      await handle.close();
    }
  } finally {
    await reader.close();
  }
}

/** Creates `target` through `write(temp)` and a rename, replacing any existing file or folder. */
async function writeAtomically(target: string, write: (temp: string) => Promise<void>) {
  const suffix = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const temp = join(dirname(target), `.${basename(target)}.tmp-${suffix}`);
  try {
    await write(temp);
    const old = join(dirname(target), `.${basename(target)}.old-${suffix}`);
    const existed = await fs.rename(target, old).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return false;
        throw error;
      },
    );
    await fs.rename(temp, target);
    if (existed) await fs.rm(old, { recursive: true, force: true });
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true });
    throw error;
  }
}

/** Loads an `.mlmodel` file or an `.mlpackage` folder. */
export async function loadModel(path: string): Promise<MLModel> {
  const stat = await fs.stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new FormatError(path, error.code === "ENOENT" ? "no such file or folder" : error.message);
  });
  if (!stat.isDirectory()) {
    return new MLModel(decodeModel(await readFile(path), path), new Map(), undefined, path);
  }
  const manifestPath = join(path, "Manifest.json");
  const manifest = parseManifest((await readFile(manifestPath)).toString(), manifestPath);
  const modelItem = rootModelItem(manifest);
  const modelPath = join(path, "Data", modelItem.path);
  const spec = decodeModel(await readFile(modelPath, `manifest item ${modelItem.path}`), modelPath);
  const weightFiles = new Map<string, WeightFileSource>();
  const modelDir = dirname(modelPath);
  for (const file of await listFiles(join(modelDir, "weights"))) {
    weightFiles.set(
      `${MODEL_PATH_PREFIX}weights/${file}`,
      await fileSource(join(modelDir, "weights", file)),
    );
  }
  return new MLModel(spec, weightFiles, { manifest, directory: path }, path);
}

async function readFile(path: string, what?: string): Promise<Buffer> {
  try {
    return await fs.readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem =
      code === "ENOENT" ? `missing${what ? ` (${what})` : ""}` : (error as Error).message;
    throw new FormatError(path, problem);
  }
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const entry of entries) {
    if (entry.isDirectory())
      files.push(...(await listFiles(join(dir, entry.name), `${prefix}${entry.name}/`)));
    else files.push(`${prefix}${entry.name}`);
  }
  return files.sort();
}
