/**
 * Files this process creates and must not leave behind: scratch weight files, the temporary
 * siblings of outputs being written, and (in a command-line run) the outputs themselves until
 * the run succeeds. Each registers a synchronous undo, so an interrupted run (Ctrl-C, SIGTERM,
 * an exit on error) can still clean up from a signal or `exit` handler, where nothing
 * asynchronous runs. Undoing first lets file operations already handed to libuv's threads land,
 * so one created a moment after the signal is still removed. A written output may also register what finishing it takes (removing the
 * copy of what it replaced): done at once, unless the process holds outputs until it ends.
 */
import { existsSync, renameSync, rmSync } from "node:fs";

type Action = () => void;

interface Pending {
  undo: Action;
  /** What keeping the change takes, once nothing can undo it any more. */
  commit?: Action;
}

const pending = new Map<symbol, Pending>();
/** Whether outputs stay undoable until `commitTemporaries` (a command-line run). */
let holdOutputs = false;

/** Registers `undo` to run if the process ends before `release` is called on the handle. */
export function trackTemporary(undo: Action): symbol {
  const handle = Symbol("temporary");
  pending.set(handle, { undo });
  return handle;
}

export function releaseTemporary(handle: symbol): void {
  pending.delete(handle);
}

/** Undo for a file or folder that should not survive: removes it. */
export function removeOnExit(path: string): symbol {
  return trackTemporary(() => rmSync(path, { recursive: true, force: true }));
}

/**
 * An output now at `target`, which replaced what `replaced` holds (if anything), in a parent
 * folder this write created (if `createdParent`): undoing removes the output (and that folder)
 * and puts the old one back; keeping it removes `replaced`. Kept at once, unless outputs are
 * held (`holdOutputsUntilCommit`).
 */
export function writtenOutput(target: string, replaced?: string, createdParent?: string): void {
  const commit = () => {
    if (replaced) rmSync(replaced, { recursive: true, force: true });
  };
  if (!holdOutputs) {
    commit();
    return;
  }
  pending.set(Symbol("output"), {
    undo: () => {
      rmSync(createdParent ?? target, { recursive: true, force: true });
      if (replaced && existsSync(replaced)) renameSync(replaced, target);
    },
    commit,
  });
}

/** Outputs written from now on stay undoable until `commitTemporaries` (all or nothing). */
export function holdOutputsUntilCommit(): void {
  holdOutputs = true;
}

/** Keeps every written output (the run succeeded). */
export function commitTemporaries(): void {
  for (const [handle, entry] of pending) {
    if (!entry.commit) continue;
    pending.delete(handle);
    try {
      entry.commit();
    } catch {
      // A leftover copy of a replaced output is harmless; the new output is in place.
    }
  }
}

/**
 * How long an ending process blocks so that file operations already running on libuv's
 * threads (opening a scratch file, a rename) finish: their callbacks never run, but what they
 * create must exist before the undos look for it.
 */
const SETTLE_MS = 100;

function letRunningFileOperationsLand(): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SETTLE_MS);
}

/** Runs every pending undo (newest first), ignoring failures: the process is ending. */
export function undoTemporaries(): void {
  if (pending.size === 0) return;
  letRunningFileOperationsLand();
  for (const [handle, { undo }] of [...pending].reverse()) {
    pending.delete(handle);
    try {
      undo();
    } catch {
      // Nothing more can be done while exiting.
    }
  }
}
