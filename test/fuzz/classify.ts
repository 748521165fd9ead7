/**
 * What a run's observations mean. A run is fine when it is a clean error (non-zero exit, one
 * `coreml-optimize:` line, nothing left behind, inputs untouched) or a success whose output
 * loads; anything else is a finding, with a signature that groups findings by likely cause.
 */
import type { Case } from "./cases.js";
import type { ChildResult } from "./child.js";

export const CLASSES = [
  "clean-error",
  "success",
  "input-modified",
  "hang",
  "oom",
  "crash",
  "bad-output",
  "partial-output",
  "unclear-error",
] as const;
export type Outcome = (typeof CLASSES)[number];

export const FINE: readonly Outcome[] = ["clean-error", "success"];

export interface Observation {
  run: ChildResult;
  /** Inputs (or files in the output's way) whose hash changed. */
  changedInputs: string[];
  /** Temporary files left anywhere in the case, and anything left in its temp folder. */
  leftovers: string[];
  /** Something appeared or changed at the output path. */
  outputChanged: boolean;
  /** The output check, after a successful run that names an output. */
  verify?: { ok: boolean; detail: string };
}

export interface Verdict {
  outcome: Outcome;
  detail: string;
  /** Groups findings of one likely cause. */
  signature: string;
}

const STACK_FRAME = /^\s+at .+(\(.*:\d+:\d+\)|:\d+:\d+)$/m;
const CRASH_TEXT =
  /internal error|FATAL ERROR|Segmentation fault|core dumped|node:internal|Unhandled|uncaught/i;
const OOM_TEXT =
  /heap out of memory|Allocation failed|Array buffer allocation failed|ERR_MEMORY_ALLOCATION_FAILED/;

/** Digits, temp names and case paths out, so runs of one cause share a signature. */
export function normalize(text: string): string {
  return text
    .replace(/\/\S*\/case-\d+\/w\/cwd\//g, "")
    .replace(/\/\S*\/case-\d+\//g, "")
    .replace(/file:\/\/\S*\/dist\//g, "dist/")
    .replace(/\/\S*\/dist\//g, "dist/")
    .replace(/-(?=[0-9a-z]*\d)[0-9a-z]{6,}\b/g, "-*")
    .replace(/\d+/g, "N")
    .slice(0, 160);
}

/** The error line and the first frame of a stack trace in `stderr`. */
function crashSignature(stderr: string): string {
  const lines = stderr.split("\n");
  const errorLine =
    lines.find((l) => /(Error|error)\b.*:/.test(l) && !STACK_FRAME.test(l)) ??
    lines.find((l) => l.trim().length > 0) ??
    "(no message)";
  const frame =
    lines.find((l) => STACK_FRAME.test(`${l}`) && !l.includes("node:internal"))?.trim() ?? "";
  return normalize(`${errorLine.replace(/^coreml-optimize: internal error: /, "")} ${frame}`);
}

/** What the mutation was, for findings whose process says nothing (hangs, memory). */
function mutationSignature(c: Case): string {
  return normalize(`${c.family}: ${c.mutations[0] ?? c.args.join(" ")}`);
}

export function classify(c: Case, o: Observation): Verdict {
  const { run } = o;
  const stderr = run.stderr.trim();
  const verdict = (outcome: Outcome, detail: string, signature: string): Verdict => ({
    outcome,
    detail,
    signature,
  });
  if (o.changedInputs.length > 0) {
    const what = `changed: ${o.changedInputs.join(", ")}`;
    return verdict(
      "input-modified",
      `${what} (exit ${run.code ?? run.signal})`,
      normalize(`${c.command}: ${c.mutations.join("; ")}`),
    );
  }
  if (run.killedFor === "timeout") {
    const seconds = (run.milliseconds / 1000).toFixed(0);
    const how = run.cpuSeconds * 1000 < run.milliseconds / 4 ? "blocked" : "busy";
    return verdict(
      "hang",
      `${how}: ${run.cpuSeconds.toFixed(1)} s of CPU in ${seconds} s`,
      mutationSignature(c),
    );
  }
  if (run.killedFor === "memory" || OOM_TEXT.test(stderr)) {
    return verdict(
      "oom",
      `resident memory reached ${(run.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
      mutationSignature(c),
    );
  }
  const interrupted = c.signal !== undefined && run.code !== 0;
  const traced = STACK_FRAME.test(stderr) || CRASH_TEXT.test(stderr);
  if (traced)
    return verdict("crash", stderr.split("\n").slice(0, 3).join(" | "), crashSignature(stderr));
  if (run.signal && !(interrupted && run.signal === c.signal?.name)) {
    return verdict(
      "crash",
      `killed by ${run.signal}`,
      normalize(`signal ${run.signal}: ${mutationSignature(c)}`),
    );
  }
  const leftovers =
    o.leftovers.length > 0 ? `left behind: ${o.leftovers.slice(0, 4).join(", ")}` : "";
  if (run.code === 0 && !interrupted) {
    if (o.verify && !o.verify.ok) {
      return verdict(
        "bad-output",
        `exit 0 but the output does not load: ${o.verify.detail}`,
        normalize(`${c.command}: ${o.verify.detail}`),
      );
    }
    if (leftovers)
      return verdict(
        "partial-output",
        `exit 0, ${leftovers}`,
        normalize(`after success: ${o.leftovers[0]}`),
      );
    return verdict("success", "", "");
  }
  // Node drops its signal handlers as the process exits: a signal landing then kills it
  // silently, after the command finished. Its output must then be whole and loadable.
  const killedExiting = interrupted && run.signal === c.signal?.name && stderr.trim() === "";
  if (killedExiting && o.outputChanged && !leftovers && o.verify?.ok) {
    return verdict("success", "", "");
  }
  if (leftovers || o.outputChanged) {
    const what = leftovers || `the output path ${c.output} was written`;
    const signature = leftovers
      ? `${interrupted ? "interrupted" : "failure"}: ${o.leftovers[0]}`
      : `failure: output written (${c.command})`;
    return verdict(
      "partial-output",
      `${what}; ${stderr.split("\n")[0] ?? ""}`,
      normalize(signature),
    );
  }
  if (interrupted || c.closeStdout) {
    if (stderr.split("\n").length <= 1)
      return verdict("clean-error", interrupted ? "interrupted" : stderr, "");
    return verdict(
      "unclear-error",
      stderr.split("\n").slice(0, 2).join(" | "),
      normalize(stderr.split("\n")[0]),
    );
  }
  const lines = stderr.split("\n");
  if (lines.length === 1 && lines[0].startsWith("coreml-optimize:"))
    return verdict("clean-error", lines[0], "");
  return verdict(
    "unclear-error",
    stderr ? lines.slice(0, 2).join(" | ") : `exit ${run.code} without a message`,
    normalize(stderr ? lines[0] : `silent exit ${run.code}`),
  );
}
