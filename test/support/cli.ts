import { spawnSync } from "node:child_process";
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
