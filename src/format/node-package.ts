/** Models as files and folders on a Node file system: loading from and saving to paths. */
import { constants, existsSync, renameSync, rmSync } from "node:fs";
import * as fs from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { RandomAccessReader } from "./blob/io.js";
import { openFileReader } from "./io-node.js";
import {
  decodeModel,
  encodeModel,
  loadPackage,
  MANIFEST_FILE,
  MLModel,
  type WeightFileSource,
} from "./ml-model.js";
import { checkOutputPath, modelKindOf } from "./output-path.js";
import { releaseTemporary, removeOnExit, trackTemporary, writtenOutput } from "./temporaries.js";
import { regularFileSize } from "./user-files.js";
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
    const file = this.localPath(path);
    if (!(await regularFileSize(file, { missing: "undefined" }))) return undefined;
    const bytes = await fs.readFile(file).catch((error: Error) => {
      throw new FormatError(file, error.message);
    });
    // A plain view, not a Buffer: callers get the same type from every store.
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  async open(path: string): Promise<RandomAccessReader> {
    const file = this.localPath(path);
    await regularFileSize(file, { missing: "error" });
    return openFileReader(file);
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
 * temporary sibling first, then renamed into place. Follows the output rules of
 * output-path.ts: never over or inside the model's sources, never over anything but a model.
 */
export async function saveModelToPath(model: MLModel, path: string): Promise<void> {
  const kind = modelKindOf(path);
  const target = await checkOutputPath(path, kind, model.inputPaths);
  if (kind === "mlmodel") {
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

/**
 * Creates `target` through `write(temp)` and a rename, replacing any existing file or folder.
 * Missing parent folders are created, and removed again if the write fails; an interrupted
 * process leaves neither the temporary nor a half-replaced output (temporaries.ts).
 */
export async function writeAtomically(
  target: string,
  write: (temp: string) => Promise<void>,
): Promise<void> {
  const suffix = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const temp = join(dirname(target), `.${basename(target)}.tmp-${suffix}`);
  const old = join(dirname(target), `.${basename(target)}.old-${suffix}`);
  const createdParent = await fs.mkdir(dirname(target), { recursive: true });
  const parentUndo = createdParent === undefined ? undefined : removeOnExit(createdParent);
  const tempUndo = removeOnExit(temp);
  /** Whether the rename of `temp` onto `target` has been started. */
  let placing = false;
  let restore: symbol | undefined;
  try {
    await write(temp);
    // Until the new output is in place, an interrupted process puts the old one back. `old`
    // exists only once our rename made it, so then `target` holds nothing of the user's.
    restore = trackTemporary(() => {
      if (existsSync(old)) {
        rmSync(target, { recursive: true, force: true });
        renameSync(old, target);
      } else if (placing) {
        rmSync(target, { recursive: true, force: true });
      }
    });
    const existed = await fs.rename(target, old).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return false;
        throw error;
      },
    );
    placing = true;
    await fs.rename(temp, target);
    writtenOutput(target, existed ? old : undefined, createdParent);
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true });
    if (existsSync(old) && !existsSync(target)) await fs.rename(old, target);
    if (createdParent !== undefined) await fs.rm(createdParent, { recursive: true, force: true });
    throw error;
  } finally {
    // The catch above has already put things back; the registered undos must not run again.
    if (restore) releaseTemporary(restore);
    releaseTemporary(tempUndo);
    if (parentUndo) releaseTemporary(parentUndo);
  }
}

/** Loads an `.mlmodel` file or an `.mlpackage` folder. */
export async function loadModel(path: string): Promise<MLModel> {
  if (path.trim() === "") throw new FormatError('""', "the model path is empty");
  const stat = await fs.stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new FormatError(path, error.code === "ENOENT" ? "no such file or folder" : error.message);
  });
  if (stat.isDirectory()) {
    if (!(await regularFileSize(join(path, MANIFEST_FILE), { missing: "undefined" }))) {
      throw new FormatError(path, `a folder without ${MANIFEST_FILE}: not an .mlpackage`);
    }
    return loadPackage(new DirectoryStore(path), path);
  }
  await regularFileSize(path, { missing: "error" });
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
