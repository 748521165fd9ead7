/**
 * Files this process creates and must not leave behind: scratch weight files and the temporary
 * siblings of outputs being written. Each registers a synchronous undo, so an interrupted run
 * (Ctrl-C, SIGTERM, an exit on error) can still clean up from a signal or `exit` handler, where
 * nothing asynchronous runs.
 */
import { renameSync, rmSync, existsSync } from "node:fs";

type Undo = () => void;

const pending = new Map<symbol, Undo>();

/** Registers `undo` to run if the process ends before `release` is called on the handle. */
export function trackTemporary(undo: Undo): symbol {
  const handle = Symbol("temporary");
  pending.set(handle, undo);
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
 * Undo for an output being replaced: `old` holds what `target` was; if the new one did not
 * make it into place, the old one goes back.
 */
export function restoreOnExit(old: string, target: string): symbol {
  return trackTemporary(() => {
    if (existsSync(old) && !existsSync(target)) renameSync(old, target);
  });
}

/** Runs every pending undo (newest first), ignoring failures: the process is ending. */
export function undoTemporaries(): void {
  for (const [handle, undo] of [...pending].reverse()) {
    pending.delete(handle);
    try {
      undo();
    } catch {
      // Nothing more can be done while exiting.
    }
  }
}
