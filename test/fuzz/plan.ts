/**
 * A case's files as data: what to create, relative to the child's working folder, so the same
 * plan builds the case for the run and again for its reproducer. Also the two observations made
 * around a run: a hash of every input (never following links or opening special files) and the
 * scratch files left behind.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import { dirname, join } from "node:path";

export type PlanEntry =
  | { kind: "file"; path: string; bytes: Uint8Array }
  | { kind: "copy"; path: string; from: string }
  | { kind: "dir"; path: string }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "fifo"; path: string }
  | { kind: "remove"; path: string };

/** Builds `plan` under `cwd` (entries in order; later ones may replace earlier ones). */
export async function applyPlan(plan: readonly PlanEntry[], cwd: string): Promise<void> {
  await fs.mkdir(cwd, { recursive: true });
  for (const entry of plan) {
    const path = join(cwd, entry.path);
    if (entry.kind !== "remove") await fs.mkdir(dirname(path), { recursive: true });
    switch (entry.kind) {
      case "file":
        await fs.rm(path, { recursive: true, force: true });
        await fs.writeFile(path, entry.bytes);
        break;
      case "copy":
        await fs.rm(path, { recursive: true, force: true });
        await fs.cp(entry.from, path, { recursive: true });
        break;
      case "dir":
        await fs.mkdir(path, { recursive: true });
        break;
      case "symlink":
        await fs.rm(path, { recursive: true, force: true });
        await fs.symlink(entry.target, path);
        break;
      case "fifo": {
        await fs.rm(path, { recursive: true, force: true });
        const made = spawnSync("mkfifo", [path]);
        if (made.status !== 0) throw new Error(`mkfifo ${path}: ${made.stderr}`);
        break;
      }
      case "remove":
        await fs.rm(path, { recursive: true, force: true });
        break;
    }
  }
}

/** Files larger than this are hashed by size only (inputs are small; outputs may not be). */
const HASH_LIMIT = 64 << 20;

/**
 * A digest of what is at `path` (`-` when nothing is): file contents, folder listings, link
 * targets and the kind of special files. Links are not followed and special files not opened.
 */
export async function hashPath(path: string): Promise<string> {
  const hash = createHash("sha1");
  await hashInto(hash, path, "");
  return hash.digest("hex");
}

async function hashInto(hash: ReturnType<typeof createHash>, path: string, name: string) {
  const stat = await fs.lstat(path).catch(() => undefined);
  if (!stat) {
    hash.update(`-${name}\0`);
  } else if (stat.isSymbolicLink()) {
    hash.update(`L${name}\0${await fs.readlink(path)}\0`);
  } else if (stat.isDirectory()) {
    hash.update(`D${name}\0`);
    for (const entry of (await fs.readdir(path)).sort()) {
      await hashInto(hash, join(path, entry), `${name}/${entry}`);
    }
  } else if (stat.isFile()) {
    hash.update(`F${name}\0${stat.size}\0`);
    if (stat.size <= HASH_LIMIT) hash.update(await fs.readFile(path));
  } else {
    hash.update(`S${name}\0${stat.mode}\0`);
  }
}

/** Names the CLI gives its temporaries: atomic-save siblings and scratch weight files. */
const TEMPORARY_NAME = /\.tmp-|\.old-|^\.coreml-optimize-/;

/** Temporary files anywhere under `root`, and anything at all left under `scratch`. */
export async function findLeftovers(root: string, scratch: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (path === scratch) {
        const left = await fs.readdir(path).catch(() => []);
        found.push(...left.map((name) => join(path, name)));
      } else {
        if (TEMPORARY_NAME.test(entry.name)) found.push(path);
        if (entry.isDirectory()) await walk(path);
      }
    }
  };
  await walk(root);
  return found.map((path) => path.slice(root.length + 1)).sort();
}
