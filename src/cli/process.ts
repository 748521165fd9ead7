/**
 * How the CLI process ends: temporary files go with it whatever ends it (an error, Ctrl-C,
 * SIGTERM), a closed stdout (`… | head`) ends it quietly, and errors print one line.
 */
import { CoreMLOptimizeError } from "../errors.js";
import { holdOutputsUntilCommit, undoTemporaries } from "../format/temporaries.js";

const SIGNAL_EXIT_CODES: Partial<Record<NodeJS.Signals, number>> = {
  SIGINT: 130,
  SIGTERM: 143,
  SIGHUP: 129,
};

/** Whether internal errors print their stack trace (`--debug`). */
const debug = process.argv.includes("--debug");

export function installProcessHandlers(): void {
  // A run writes all of its outputs or none: they are kept only once the command succeeds.
  holdOutputsUntilCommit();
  process.on("exit", undoTemporaries);
  // Handlers stay installed while the first signal's cleanup runs: a second Ctrl-C then must
  // not kill the process with the default action, before the temporaries are gone.
  let interrupted = false;
  for (const [signal, status] of Object.entries(SIGNAL_EXIT_CODES)) {
    process.on(signal as NodeJS.Signals, () => {
      if (interrupted) return;
      interrupted = true;
      undoTemporaries();
      process.stderr.write(`\ncoreml-optimize: interrupted (${signal}); nothing was written\n`);
      process.exit(status);
    });
  }
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => {
      // The reader has what it wanted (`… | head`); the command's work is already done.
      if (error.code === "EPIPE") process.exit(0);
      throw error;
    });
  }
}

function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return (
    error instanceof Error &&
    typeof (error as NodeJS.ErrnoException).code === "string" &&
    "syscall" in error
  );
}

/** Control characters (C0, DEL, C1, line and paragraph separators) that would break a line. */
// eslint-disable-next-line no-control-regex -- finding them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * `text` with its control characters escaped (as \n, \x12): names read from a damaged file
 * may hold any of them, and a failure stays one readable line.
 */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    if (c === "\n") return "\\n";
    return code > 0xff
      ? `\\u${code.toString(16).padStart(4, "0")}`
      : `\\x${code.toString(16).padStart(2, "0")}`;
  });
}

/** The one line a failure prints. */
export function failureMessage(error: unknown): string {
  if (error instanceof CoreMLOptimizeError) {
    const cause = error.cause instanceof Error ? error.cause.stack : undefined;
    const message = printable(error.message);
    return debug && cause ? `${message}\n${cause}` : message;
  }
  if (isSystemError(error)) {
    const where = error.path ?? (error as { dest?: string }).dest;
    return printable(`${where ? `${where}: ` : ""}${systemProblem(error)}`);
  }
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = printable(message.split("\n")[0]);
  if (debug) return `internal error: ${(error as Error)?.stack ?? message}`;
  return `internal error: ${firstLine} (this is a bug in coreml-optimize; rerun with --debug for details)`;
}

/** System error codes in words, without Node's "ENOENT: …, open '…'" decoration. */
const SYSTEM_PROBLEMS: Record<string, string> = {
  ENOENT: "no such file or folder",
  EEXIST: "already exists",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "is a folder, not a file",
  ENOTDIR: "a part of the path is not a folder",
  ENOTEMPTY: "the folder is not empty",
  ENOSPC: "no space left on the device",
  EROFS: "read-only file system",
  EXDEV: "cannot move across file systems",
  EMFILE: "too many open files",
  ENAMETOOLONG: "the name is too long",
  ELOOP: "too many levels of symbolic links",
};

function systemProblem(error: NodeJS.ErrnoException): string {
  return SYSTEM_PROBLEMS[error.code!] ?? error.message;
}

/**
 * Prints a failure as one line (a trace only for internal errors with --debug) and exits with
 * the error's status (1 unless it names another, e.g. 3 for a run that changed nothing).
 */
export function reportFailure(error: unknown): never {
  process.stderr.write(`coreml-optimize: ${failureMessage(error)}\n`);
  const status = (error as { exitCode?: unknown })?.exitCode;
  process.exit(typeof status === "number" && error instanceof CoreMLOptimizeError ? status : 1);
}
