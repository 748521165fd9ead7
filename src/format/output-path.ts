/**
 * The rules every write to a user's path follows (README, "Safety"): an output may not be,
 * contain or lie inside any input (compared by real path, after following links), nor lie inside
 * a model package; an existing output is replaced only when it is a model of the same kind; and
 * nothing is written to anything but a regular file or folder on a real file system.
 */
import * as fs from "node:fs/promises";
import type { Stats } from "node:fs";
import { basename, dirname, join, resolve, sep } from "node:path";
import { CoreMLOptimizeError } from "../errors.js";
import { decodeModel, MANIFEST_FILE } from "./ml-model.js";
import { parseManifest } from "./manifest.js";

/** What an output path will hold. */
export type OutputKind = "mlpackage" | "mlmodel" | "folder";

/** The kind of model `save(path)` writes for a path. */
export function modelKindOf(path: string): OutputKind {
  return path.endsWith(".mlmodel") ? "mlmodel" : "mlpackage";
}

/** Larger existing `.mlmodel` files are recognised by their first field instead of decoded. */
const DECODE_LIMIT = 64 << 20;
/** A manifest is a few hundred bytes; anything this large is not one. */
const MANIFEST_LIMIT = 1 << 20;

/** Pseudo file systems (statfs magic numbers) where writing a model makes no sense. */
const VIRTUAL_FILE_SYSTEMS = new Map<number, string>([
  [0x9fa0, "proc"],
  [0x62656572, "sysfs"],
  [0x27e0eb, "cgroup"],
  [0x63677270, "cgroup2"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
]);

class OutputPathError extends CoreMLOptimizeError {
  override name = "OutputPathError";
  constructor(path: string, problem: string) {
    super(`${path === "" ? '""' : path}: ${problem}`);
  }
}

async function statOrUndefined(
  path: string,
  stat: (p: string) => Promise<Stats>,
): Promise<Stats | undefined> {
  return stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") return undefined;
    throw new OutputPathError(path, error.message);
  });
}

/**
 * The real path `path` has or would have: its nearest existing ancestor with links followed,
 * then the parts that do not exist yet.
 */
async function realPathOf(path: string): Promise<string> {
  const missing: string[] = [];
  let existing = path;
  for (;;) {
    const real = await fs.realpath(existing).catch(() => undefined);
    if (real !== undefined) return join(real, ...missing.reverse());
    const parent = dirname(existing);
    if (parent === existing) return path;
    missing.push(basename(existing));
    existing = parent;
  }
}

function relation(output: string, input: string): string | undefined {
  if (output === input) return "is the input";
  if (input.startsWith(output.endsWith(sep) ? output : output + sep)) return "contains the input";
  if (output.startsWith(input + sep)) return "lies inside the input";
  return undefined;
}

/** The nearest folder at or above `realPath` that is a model package, if any. */
async function enclosingPackage(realPath: string): Promise<string | undefined> {
  for (let dir = dirname(realPath); ; dir = dirname(dir)) {
    if (await isPackage(dir)) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

async function isPackage(path: string): Promise<boolean> {
  const manifest = join(path, MANIFEST_FILE);
  const info = await statOrUndefined(manifest, fs.stat);
  if (!info?.isFile() || info.size > MANIFEST_LIMIT) return false;
  try {
    parseManifest(await fs.readFile(manifest, "utf8"), manifest);
    return true;
  } catch {
    return false;
  }
}

async function isModelFile(path: string, size: number): Promise<boolean> {
  if (size === 0) return false;
  if (size > DECODE_LIMIT) {
    // Field 1 (specificationVersion, a varint) comes first in every Core ML model.
    const handle = await fs.open(path, "r");
    try {
      const { buffer } = await handle.read(new Uint8Array(1), 0, 1, 0);
      return buffer[0] === 0x08;
    } finally {
      await handle.close();
    }
  }
  try {
    decodeModel(new Uint8Array(await fs.readFile(path)), path);
    return true;
  } catch {
    return false;
  }
}

/** What may already be at an output path of each kind. */
const REPLACEABLE: Record<OutputKind, string> = {
  mlpackage: "only an existing .mlpackage is replaced",
  mlmodel: "only an existing .mlmodel is replaced",
  folder: "outputs go into a plain folder",
};

/** Refuses to replace an existing `path` that is not of `kind`. */
async function checkExisting(path: string, info: Stats, kind: OutputKind): Promise<void> {
  const refuse = (what: string) =>
    new OutputPathError(path, `exists and is ${what}; ${REPLACEABLE[kind]}`);
  if (!info.isFile() && !info.isDirectory()) throw refuse("not a regular file or folder");
  if (kind === "folder") {
    if (!info.isDirectory()) throw refuse("a file");
    if (await isPackage(path)) throw refuse("a model package, not a folder for outputs");
    return;
  }
  if (kind === "mlpackage") {
    if (!info.isDirectory()) throw refuse("a file");
    if (!(await isPackage(path))) throw refuse("a folder that is not a model package");
    return;
  }
  if (!info.isFile()) throw refuse("a folder");
  if (!(await isModelFile(path, info.size))) throw refuse("a file that is not a Core ML model");
}

/**
 * Checks that `output` may be written as `kind` by a command reading `inputs`, and returns its
 * absolute path. Throws a one-line error naming the path and the reason otherwise.
 */
export async function checkOutputPath(
  output: string,
  kind: OutputKind,
  inputs: readonly string[],
): Promise<string> {
  if (output.trim() === "") throw new OutputPathError(output, "the output path is empty");
  const absolute = resolve(output);
  const own = await statOrUndefined(absolute, fs.lstat);
  if (own?.isSymbolicLink()) {
    throw new OutputPathError(output, "is a symbolic link; name the file or folder itself");
  }
  const real = await realPathOf(absolute);
  for (const input of inputs) {
    const realInput = await fs.realpath(resolve(input)).catch(() => undefined);
    const problem = realInput && relation(real, realInput);
    if (problem) throw new OutputPathError(output, `${problem} ${input}; choose another output`);
  }
  const container = await enclosingPackage(real);
  if (container) {
    throw new OutputPathError(
      output,
      `lies inside the model package ${container}; choose another output`,
    );
  }
  if (own) await checkExisting(output, own, kind);
  // The nearest existing ancestor must be a folder on a real file system.
  let ancestor = dirname(real);
  while (!(await statOrUndefined(ancestor, fs.stat))) ancestor = dirname(ancestor);
  const parent = await fs.stat(ancestor);
  if (!parent.isDirectory()) throw new OutputPathError(output, `${ancestor} is not a folder`);
  const system = VIRTUAL_FILE_SYSTEMS.get((await fs.statfs(ancestor)).type);
  if (system) {
    throw new OutputPathError(
      output,
      `${ancestor} is on a virtual file system (${system}), not a place for files`,
    );
  }
  return absolute;
}
