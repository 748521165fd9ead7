/**
 * The files of an `.mlpackage` by relative path ('/'-separated), independent of where they are
 * kept: a folder on disk (Node) or a map of byte arrays (browser, memory).
 */
import type { RandomAccessReader, WeightFileSource } from "./blob/io.js";
import { memoryReader } from "./io-memory.js";

/** Read access to a package's files. */
export interface PackageStore {
  /** How to name `path` in messages (e.g. its path on disk). */
  describe(path: string): string;
  /** The bytes of the file at `path`, undefined when there is none. */
  read(path: string): Promise<Uint8Array | undefined>;
  open(path: string): Promise<RandomAccessReader>;
  /** Files under the folder `dir`, relative to it and sorted; empty when there is none. */
  list(dir: string): Promise<string[]>;
  /** Where `path` is on disk, for stores that are folders. */
  localPath?(path: string): string;
}

/** Write access to a package being saved. */
export interface PackageSink {
  write(path: string, bytes: Uint8Array): Promise<void>;
  writeWeights(path: string, source: WeightFileSource): Promise<void>;
  /** Copies the file or folder at `path` of `from` to the same path here, if it exists. */
  copy(from: PackageStore, path: string): Promise<void>;
}

/** Copies a file or every file of a folder through `read` and `write`. */
export async function copyThrough(
  from: PackageStore,
  path: string,
  write: (path: string, bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  const file = await from.read(path);
  if (file) {
    await write(path, file);
    return;
  }
  for (const relative of await from.list(path)) {
    const bytes = await from.read(`${path}/${relative}`);
    if (bytes) await write(`${path}/${relative}`, bytes);
  }
}

/** A package held as a map from relative path to bytes. */
export class MemoryPackageStore implements PackageStore {
  constructor(readonly files: ReadonlyMap<string, Uint8Array>) {}

  describe(path: string): string {
    return path;
  }

  read(path: string): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.files.get(path));
  }

  open(path: string): Promise<RandomAccessReader> {
    const bytes = this.files.get(path);
    if (!bytes) return Promise.reject(new Error(`${path}: no such file in the package`));
    return Promise.resolve(memoryReader(bytes));
  }

  list(dir: string): Promise<string[]> {
    const prefix = `${dir}/`;
    const names = [...this.files.keys()]
      .filter((name) => name.startsWith(prefix))
      .map((name) => name.slice(prefix.length));
    return Promise.resolve(names.sort());
  }
}

/** Collects a saved package into a map from relative path to bytes. */
export class MemoryPackageSink implements PackageSink {
  readonly files = new Map<string, Uint8Array>();

  write(path: string, bytes: Uint8Array): Promise<void> {
    this.files.set(path, bytes);
    return Promise.resolve();
  }

  async writeWeights(path: string, source: WeightFileSource): Promise<void> {
    const reader = await source.open();
    try {
      // A copy: the source may be a view of memory its owner keeps changing or releases.
      this.files.set(path, new Uint8Array(await reader.read(0, reader.size)));
    } finally {
      await reader.close();
    }
  }

  copy(from: PackageStore, path: string): Promise<void> {
    return copyThrough(from, path, (p, bytes) => this.write(p, bytes));
  }
}
