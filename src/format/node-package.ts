/** Models as files and folders on a Node file system: loading from and saving to paths. */
import { constants } from "node:fs";
import * as fs from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { RandomAccessReader } from "./blob/io.js";
import { openFileReader } from "./io-node.js";
import {
  decodeModel,
  encodeModel,
  loadPackage,
  MLModel,
  type WeightFileSource,
} from "./ml-model.js";
import { copyThrough, type PackageSink, type PackageStore } from "./package-store.js";
import { CoreMLOptimizeError, FormatError } from "../errors.js";

/** An `.mlpackage` folder. */
export class DirectoryStore implements PackageStore {
  constructor(readonly directory: string) {}

  localPath(path: string): string {
    return join(this.directory, path);
  }

  describe(path: string): string {
    return this.localPath(path);
  }

  async read(path: string): Promise<Uint8Array | undefined> {
    try {
      const bytes = await fs.readFile(this.localPath(path));
      // A plain view, not a Buffer: callers get the same type from every store.
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EISDIR") return undefined;
      throw new FormatError(this.localPath(path), (error as Error).message);
    }
  }

  open(path: string): Promise<RandomAccessReader> {
    return openFileReader(this.localPath(path));
  }

  list(dir: string): Promise<string[]> {
    return listFiles(this.localPath(dir));
  }
}

/** Writes a package into a new folder. */
class DirectorySink implements PackageSink {
  constructor(private readonly directory: string) {}

  private async prepare(path: string): Promise<string> {
    const to = join(this.directory, path);
    await fs.mkdir(dirname(to), { recursive: true });
    return to;
  }

  async write(path: string, bytes: Uint8Array): Promise<void> {
    await fs.writeFile(await this.prepare(path), bytes);
  }

  async writeWeights(path: string, source: WeightFileSource): Promise<void> {
    await placeWeightFile(source, await this.prepare(path));
  }

  async copy(from: PackageStore, path: string): Promise<void> {
    if (!(from instanceof DirectoryStore)) {
      await copyThrough(from, path, (p, bytes) => this.write(p, bytes));
      return;
    }
    const to = await this.prepare(path);
    await fs
      .cp(from.localPath(path), to, { recursive: true })
      .catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
      });
  }
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

/**
 * Writes `model` to `path` (`.mlpackage` folder or `.mlmodel` file), atomically: into a
 * temporary sibling first, then renamed into place. Refuses to overwrite the model's own source.
 */
export async function saveModelToPath(model: MLModel, path: string): Promise<void> {
  const target = resolve(path);
  if (model.inputPaths.some((p) => resolve(p) === target)) {
    throw new CoreMLOptimizeError(`${path}: refusing to overwrite the input model`);
  }
  if (target.endsWith(".mlmodel")) {
    if (model.weightFiles.size > 0) {
      throw new CoreMLOptimizeError(
        `${path}: this model has weight files (an ML program); save it as an .mlpackage`,
      );
    }
    await writeAtomically(target, async (temp) => fs.writeFile(temp, encodeModel(model.spec)));
    return;
  }
  await writeAtomically(target, (temp) => model.writePackage(new DirectorySink(temp)));
  // Temporary weight files were moved into the package; the package now holds them.
  await model.adoptSavedWeights(new DirectoryStore(target));
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
  if (stat.isDirectory()) return loadPackage(new DirectoryStore(path), path);
  const bytes = await fs.readFile(path).catch((error: Error) => {
    throw new FormatError(path, error.message);
  });
  return new MLModel(decodeModel(bytes, path), new Map(), undefined, path);
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
