/**
 * Runs one child process under a time limit and a memory limit. Memory is the child's resident
 * set, polled from /proc and enforced by killing its process group: address-space limits would
 * refuse V8's and WebAssembly's large reservations, which are not memory in use. Time is judged
 * by what the child does: one that has used no CPU for a few seconds (blocked on a FIFO, say)
 * is killed then; a busy one once it has used the limit in CPU time (or four times the limit in
 * wall time), so a slow run on a loaded machine is not taken for a hang.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export interface Limits {
  timeoutMs: number;
  memoryBytes: number;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when this module killed the child. */
  killedFor?: "timeout" | "memory";
  peakRssBytes: number;
  /** CPU time of all the child's threads (as last polled). */
  cpuSeconds: number;
  milliseconds: number;
}

export interface ChildOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  limits: Limits;
  /** Sends this signal to the child after a delay (an interrupted run). */
  interrupt?: { name: NodeJS.Signals; afterMs: number };
  /** Closes the child's standard output at once, as a reader that went away. */
  closeStdout?: boolean;
}

const CAPTURE_LIMIT = 256 << 10;
const POLL_MS = 50;
/** A child that used less CPU than this over the last few seconds is blocked, not slow. */
const IDLE_CPU_SECONDS = 0.02;
const IDLE_WINDOW_MS = 3000;
const CLOCK_TICKS = 100;

/** Process groups of children still running, killed if the fuzzer itself is interrupted. */
export const runningGroups = new Set<number>();

function residentBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** User + system time of `pid`, all threads (fields 14 and 15 of /proc/PID/stat). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

export function runChild(
  script: string,
  args: readonly string[],
  options: ChildOptions,
): Promise<ChildResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = child.pid;
  if (pid !== undefined) runningGroups.add(pid);
  const result: ChildResult = {
    code: null,
    signal: null,
    stdout: "",
    stderr: "",
    peakRssBytes: 0,
    cpuSeconds: 0,
    milliseconds: 0,
  };
  const capture = (stream: NodeJS.ReadableStream, key: "stdout" | "stderr") => {
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      if (result[key].length < CAPTURE_LIMIT)
        result[key] += chunk.slice(0, CAPTURE_LIMIT - result[key].length);
    });
    stream.on("error", () => {});
  };
  capture(child.stderr, "stderr");
  if (options.closeStdout) child.stdout.destroy();
  else capture(child.stdout, "stdout");
  const killGroup = (reason: "timeout" | "memory") => {
    if (result.killedFor || pid === undefined) return;
    result.killedFor = reason;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  };
  const { timeoutMs } = options.limits;
  const cpuHistory: number[] = [];
  const poll = setInterval(() => {
    if (pid === undefined) return;
    const rss = residentBytes(pid);
    result.peakRssBytes = Math.max(result.peakRssBytes, rss);
    if (rss > options.limits.memoryBytes) killGroup("memory");
    result.cpuSeconds = Math.max(result.cpuSeconds, cpuSeconds(pid));
    cpuHistory.push(result.cpuSeconds);
    const windowStart =
      cpuHistory.length > IDLE_WINDOW_MS / POLL_MS ? cpuHistory.shift()! : -Infinity;
    const elapsed = performance.now() - started;
    const idle = result.cpuSeconds - windowStart < IDLE_CPU_SECONDS;
    if (idle || result.cpuSeconds * 1000 >= timeoutMs || elapsed >= 4 * timeoutMs)
      killGroup("timeout");
  }, POLL_MS);
  const interrupt = options.interrupt
    ? setTimeout(() => child.kill(options.interrupt!.name), options.interrupt.afterMs)
    : undefined;
  return new Promise((resolve) => {
    const finish = () => {
      clearInterval(poll);
      if (interrupt) clearTimeout(interrupt);
      if (pid !== undefined) {
        // Worker threads die with the process; anything else it started goes with its group.
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // No such group any more.
        }
        runningGroups.delete(pid);
      }
      result.milliseconds = performance.now() - started;
      resolve(result);
    };
    child.on("error", (error) => {
      result.stderr += `spawn failed: ${error.message}`;
      finish();
    });
    child.on("close", (code, signal) => {
      result.code = code;
      result.signal = signal;
      finish();
    });
  });
}
