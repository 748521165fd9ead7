/**
 * Core ML models in memory: the spec, its weight files and, for an `.mlpackage`, the package's
 * other items. Nothing here touches a file system: packages are read from a `PackageStore` and
 * written to a `PackageSink` (format/model.ts adds loading from and saving to paths on Node).
 * Weight files are opened lazily and read by offset; nothing loads a whole weight file.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ModelSchema, type Model } from "./gen/Model_pb.js";
import { BlobFileReader } from "./blob/reader.js";
import type { WeightFileSource } from "./blob/io.js";
import {
  formatManifest,
  newManifest,
  parseManifest,
  rootModelItem,
  type Manifest,
} from "./manifest.js";
import type { PackageSink, PackageStore } from "./package-store.js";
import { CoreMLOptimizeError, FormatError, UnsupportedError } from "../errors.js";

export type ModelFormat = "mlmodel" | "mlpackage";
export type { WeightFileSource } from "./blob/io.js";

/** Prefix of blob file names in ML programs: the folder holding the model spec. */
const MODEL_PATH_PREFIX = "@model_path/";
export const DEFAULT_WEIGHT_FILE = "@model_path/weights/weight.bin";
/** Name of the package's manifest, at its root. */
export const MANIFEST_FILE = "Manifest.json";

/** What an `.mlpackage` holds besides the model spec and weights. */
export interface PackageInfo {
  manifest: Manifest;
  /** The package it was read from, if any: other items are copied from there. */
  store?: PackageStore;
}

export function decodeModel(bytes: Uint8Array, file: string): Model {
  let spec: Model;
  try {
    spec = fromBinary(ModelSchema, bytes);
  } catch (error) {
    throw new FormatError(file, `not a valid Core ML model protobuf (${(error as Error).message})`);
  }
  // Any bytes of a few fields parse as a protobuf; a model says what kind of model it is.
  if (spec.Type.case === undefined)
    throw new FormatError(file, "not a Core ML model (no model type)");
  return spec;
}

export function encodeModel(spec: Model): Uint8Array {
  return toBinary(ModelSchema, spec);
}

/** The folder part of a '/'-separated relative path ("" at the top). */
function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/** Writes a model to a file-system path: provided on Node by format/model.ts. */
export type PathWriter = (model: MLModel, path: string) => Promise<void>;

let pathWriter: PathWriter | undefined;

/** Lets `save(path)` write to a file system (format/model.ts does this on Node). */
export function usePathWriter(writer: PathWriter): void {
  pathWriter = writer;
}

export class MLModel {
  private readonly readers = new Map<string, Promise<BlobFileReader>>();
  /** Paths `save` must not overwrite: the inputs this model was derived from. */
  private protectedPaths: string[] = [];

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
    derived.protectedPaths = this.inputPaths;
    return derived;
  }

  /** Paths this model was loaded or derived from, which saving must not overwrite. */
  get inputPaths(): string[] {
    return [...this.protectedPaths, ...(this.sourcePath ? [this.sourcePath] : [])];
  }

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

  /** Closes open weight files and discards temporary ones that were not saved. */
  async close(): Promise<void> {
    await this.closeReaders();
    for (const source of this.weightFiles.values()) {
      if (source.temporary) await source.discard?.();
    }
  }

  private async closeReaders(names: Iterable<string> = [...this.readers.keys()]): Promise<void> {
    const readers: Promise<BlobFileReader>[] = [];
    for (const name of names) {
      const reader = this.readers.get(name);
      this.readers.delete(name);
      if (reader) readers.push(reader);
    }
    await Promise.allSettled(readers.map(async (r) => (await r).close()));
  }

  /**
   * Writes the model to `path` (`.mlpackage` folder or `.mlmodel` file). Needs Node; elsewhere
   * use `modelToFiles` (browser entry point).
   */
  save(path: string): Promise<void> {
    if (!pathWriter) {
      return Promise.reject(
        new UnsupportedError(`${path}: saving to a path needs Node; use modelToFiles instead`),
      );
    }
    return pathWriter(this, path);
  }

  /** The package manifest (a new one for models not read from a package). */
  get manifest(): Manifest {
    this.packageInfo ??= { manifest: newManifest() };
    return this.packageInfo.manifest;
  }

  /** Path, inside the package, of a weight file named as the program names it. */
  packagePathOf(fileName: string): string {
    const modelDir = parentOf(`Data/${rootModelItem(this.manifest).path}`);
    return `${modelDir}/${weightRelativePath(fileName)}`;
  }

  /** Writes every file of the model as an `.mlpackage`. */
  async writePackage(sink: PackageSink): Promise<void> {
    const manifest = this.manifest;
    const modelItem = rootModelItem(manifest);
    // Items other than the model spec and weights (e.g. Xcode overlays) are copied unchanged.
    const from = this.packageInfo?.store;
    if (from) {
      for (const item of Object.values(manifest.itemInfoEntries)) {
        if (item === modelItem || item.name === "weights") continue;
        await sink.copy(from, `Data/${item.path}`);
      }
    }
    await sink.write(`Data/${modelItem.path}`, encodeModel(this.spec));
    for (const [name, source] of this.weightFiles) {
      await sink.writeWeights(this.packagePathOf(name), source);
    }
    await sink.write(MANIFEST_FILE, new TextEncoder().encode(formatManifest(manifest)));
  }

  /**
   * After saving into `store`, where temporary weight files may have been moved: reads them
   * from there from now on.
   */
  async adoptSavedWeights(store: PackageStore): Promise<void> {
    const moved: string[] = [];
    for (const [name, source] of this.weightFiles) {
      if (!source.temporary) continue;
      this.weightFiles.set(name, weightSource(store, this.packagePathOf(name)));
      moved.push(name);
    }
    await this.closeReaders(moved);
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

/** A weight file of a package store (with its path on disk, when the store has one). */
function weightSource(store: PackageStore, path: string): WeightFileSource {
  const source: WeightFileSource = { open: () => store.open(path) };
  const onDisk = store.localPath?.(path);
  if (onDisk !== undefined) source.path = onDisk;
  return source;
}

/** Reads an `.mlpackage` from its files. */
export async function loadPackage(store: PackageStore, sourcePath?: string): Promise<MLModel> {
  const manifestBytes = await store.read(MANIFEST_FILE);
  if (!manifestBytes) throw new FormatError(store.describe(MANIFEST_FILE), "missing");
  const manifest = parseManifest(
    new TextDecoder().decode(manifestBytes),
    store.describe(MANIFEST_FILE),
  );
  const modelItem = rootModelItem(manifest);
  const modelPath = `Data/${modelItem.path}`;
  const bytes = await store.read(modelPath);
  if (!bytes) {
    throw new FormatError(store.describe(modelPath), `missing (manifest item ${modelItem.path})`);
  }
  const spec = decodeModel(bytes, store.describe(modelPath));
  const weightFiles = new Map<string, WeightFileSource>();
  const weightsDir = `${parentOf(modelPath)}/weights`;
  for (const file of await store.list(weightsDir)) {
    weightFiles.set(
      `${MODEL_PATH_PREFIX}weights/${file}`,
      weightSource(store, `${weightsDir}/${file}`),
    );
  }
  return new MLModel(spec, weightFiles, { manifest, store }, sourcePath);
}
