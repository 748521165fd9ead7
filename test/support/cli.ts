import { execFile, spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./paths.js";

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a user would. */
export function runCli(...args: string[]): CliResult {
  return runCliIn(undefined, ...args);
}

/** Runs the built CLI in the folder `cwd` (the current one when undefined). */
export function runCliIn(cwd: string | undefined, ...args: string[]): CliResult {
  const result = spawnSync(process.execPath, [join(REPO_ROOT, "dist/src/cli/main.js"), ...args], {
    encoding: "utf8",
    cwd,
    env: { ...process.env, CI: "1" },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `runCli` without waiting: the CLI runs while the caller does something else. */
export function startCli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, "dist/src/cli/main.js"), ...args],
      { encoding: "utf8", env: { ...process.env, CI: "1" }, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        const status = error ? (typeof error.code === "number" ? error.code : null) : 0;
        if (error && status === null) reject(error);
        else resolve({ status, stdout, stderr });
      },
    );
  });
}
