/**
 * `npm run fuzz -- --minutes N --seed S [--cases K] [--jobs J] [--keep DIR]`: runs the CLI on
 * mutated models, configs and inputs, special files and hostile output paths, each case in its
 * own folder (its own TMPDIR too) under a time and a memory limit, and classifies every run.
 * Prints a table by class and command and one line per distinct finding; writes each finding's
 * reproducer under --keep; exits 1 if any run was neither a clean error nor a loadable success.
 *
 * Other options: --timeout SECONDS (per run, default 20), --memory MB (default 1536),
 * --families a,b (only these), --only N,M (only these case numbers), --verbose (every case).
 */
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatTable } from "../../src/cli/format.js";
import { COMMANDS, FAMILIES, generateCase, type Case, type Family } from "./cases.js";
import { runChild, runningGroups, type Limits } from "./child.js";
import { CLASSES, FINE, classify, type Observation, type Verdict } from "./classify.js";
import { applyPlan, findLeftovers, hashPath } from "./plan.js";
import { loadSeeds, type Seeds } from "./seeds.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, "../../..");
const CLI = join(REPO_ROOT, "dist/src/cli/main.js");
const VERIFIER = join(HERE, "verify-output.js");

const { values } = parseArgs({
  options: {
    minutes: { type: "string" },
    seed: { type: "string", default: "1" },
    cases: { type: "string" },
    jobs: { type: "string", default: "2" },
    keep: { type: "string" },
    timeout: { type: "string", default: "20" },
    memory: { type: "string", default: "1536" },
    families: { type: "string" },
    only: { type: "string" },
    verbose: { type: "boolean", default: false },
  },
});

function positive(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(n > 0)) {
    process.stderr.write(`fuzz: ${flag} expects a positive number, got "${text}"\n`);
    process.exit(2);
  }
  return n;
}

const seed = values.seed!;
const minutes = positive(values.minutes, "--minutes");
const maxCases = positive(values.cases, "--cases") ?? (minutes === undefined ? 200 : Infinity);
const jobs = Math.floor(positive(values.jobs, "--jobs")!);
const limits: Limits = {
  timeoutMs: positive(values.timeout, "--timeout")! * 1000,
  memoryBytes: positive(values.memory, "--memory")! * 2 ** 20,
};
const families = (values.families?.split(",") ?? [...FAMILIES]) as Family[];
for (const f of families) {
  if (!FAMILIES.includes(f)) {
    process.stderr.write(`fuzz: unknown family ${f} (families: ${FAMILIES.join(", ")})\n`);
    process.exit(2);
  }
}
const only = values.only?.split(",").map(Number);
const keep = values.keep ? resolve(values.keep) : undefined;
const deadline = minutes === undefined ? Infinity : Date.now() + minutes * 60_000;

interface Finished {
  c: Case;
  verdict: Verdict;
  stderr: string;
  stdout: string;
  milliseconds: number;
}

const childEnv = (scratch: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  TMPDIR: scratch,
  CI: "1",
});

/** Resolves a case path: relative ones from the child's working folder. */
const at = (cwd: string, path: string) => (isAbsolute(path) ? path : resolve(cwd, path));

/** Output paths outside the case (under /proc) are not hashed: reading them is not neutral. */
const insideCase = (root: string, path: string) => path === root || path.startsWith(`${root}/`);

async function runCase(c: Case, work: string): Promise<Finished> {
  const root = join(work, `case-${c.index}`);
  const cwd = join(root, "w/cwd");
  const scratch = join(root, "tmp");
  await mkdir(scratch, { recursive: true });
  await applyPlan(c.plan, cwd);
  const hashAll = () => Promise.all(c.inputs.map((p) => hashPath(at(cwd, p))));
  const outputPath = c.output !== undefined ? at(cwd, c.output) : undefined;
  const hashOutput = async () =>
    outputPath && insideCase(root, outputPath) ? hashPath(outputPath) : "";
  const [before, outputBefore] = [await hashAll(), await hashOutput()];
  const run = await runChild(CLI, c.args.slice(), {
    cwd,
    env: childEnv(scratch),
    limits,
    interrupt: c.signal ? { name: c.signal.name, afterMs: c.signal.afterMs } : undefined,
    closeStdout: c.closeStdout,
  });
  const after = await hashAll();
  const observation: Observation = {
    run,
    changedInputs: c.inputs.filter((_, i) => before[i] !== after[i]),
    leftovers: await findLeftovers(root, scratch),
    outputChanged: (await hashOutput()) !== outputBefore,
  };
  // A run killed by its signal while exiting (see classify) may have finished: check it too.
  const ran = run.code === 0 || (run.signal === c.signal?.name && observation.outputChanged);
  if (ran && outputPath && c.outputKind) {
    const check = await runChild(VERIFIER, [c.outputKind, outputPath], {
      cwd,
      env: childEnv(scratch),
      limits,
    });
    const detail = check.killedFor
      ? `the check ran out of ${check.killedFor === "timeout" ? "time" : "memory"}`
      : check.stdout.trim() || check.stderr.trim().split("\n")[0];
    observation.verify = { ok: check.code === 0, detail };
  }
  const verdict = classify(c, observation);
  const finished = {
    c,
    verdict,
    stderr: run.stderr,
    stdout: run.stdout,
    milliseconds: run.milliseconds,
  };
  if (keep && !FINE.includes(verdict.outcome)) await writeReproducer(finished, keep);
  await rm(root, { recursive: true, force: true });
  return finished;
}

const quote = (arg: string) =>
  /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;

/** The case's files again (from its plan), a script that reruns it, and what was seen. */
async function writeReproducer(f: Finished, dir: string) {
  const root = join(dir, `case-${f.c.index}`);
  await rm(root, { recursive: true, force: true });
  await applyPlan(f.c.plan, join(root, "w/cwd"));
  await mkdir(join(root, "tmp"), { recursive: true });
  const command = `node ${CLI} ${f.c.args.map(quote).join(" ")}${f.c.closeStdout ? " | head -c 0" : ""}`;
  const script = [
    "#!/bin/sh",
    `# fuzz case ${f.c.index} (seed ${seed}, family ${f.c.family}): ${f.verdict.outcome}: ${f.verdict.detail.split("\n")[0]}`,
    ...f.c.mutations.map((m) => `# ${m}`),
    `# regenerate: npm run fuzz -- --seed ${seed} --only ${f.c.index} --keep DIR`,
    'cd "$(dirname "$0")/w/cwd" || exit 1',
    ...(f.c.signal
      ? [
          `TMPDIR="$PWD/../../tmp" ${command} &`,
          `sleep ${f.c.signal.afterMs / 1000}; kill -${f.c.signal.name.slice(3)} $!; wait $!`,
        ]
      : [`TMPDIR="$PWD/../../tmp" ${command}`]),
    "",
  ].join("\n");
  await writeFile(join(root, "repro.sh"), script, { mode: 0o755 });
  const record = {
    seed,
    ...f.c,
    plan: undefined,
    verdict: f.verdict,
    stderr: f.stderr.slice(0, 8000),
    stdout: f.stdout.slice(0, 2000),
  };
  await writeFile(join(root, "case.json"), `${JSON.stringify(record, null, 2)}\n`);
}

function summarize(results: Finished[], elapsedSeconds: number): string {
  const byCommand = COMMANDS.map((command) => {
    const mine = results.filter((r) => r.c.command === command);
    return [
      command,
      ...CLASSES.map((cls) => String(mine.filter((r) => r.verdict.outcome === cls).length || "")),
      String(mine.length),
    ];
  });
  const totals = [
    "total",
    ...CLASSES.map((cls) => String(results.filter((r) => r.verdict.outcome === cls).length)),
    String(results.length),
  ];
  const findings = new Map<string, Finished[]>();
  for (const r of results) {
    if (FINE.includes(r.verdict.outcome)) continue;
    const key = `${r.verdict.outcome}\t${r.verdict.signature}`;
    findings.set(key, [...(findings.get(key) ?? []), r]);
  }
  const findingRows = [...findings.entries()]
    .sort((a, b) => b[1].length - a[1].length)
    .map(([key, runs]) => {
      const [outcome, signature] = key.split("\t");
      const commands = [...new Set(runs.map((r) => r.c.command))].join(",");
      return [
        outcome,
        String(runs.length),
        commands,
        runs
          .slice(0, 3)
          .map((r) => `#${r.c.index}`)
          .join(" "),
        signature,
      ];
    });
  const byFamily = FAMILIES.map((family) => {
    const mine = results.filter((r) => r.c.family === family);
    const found = mine.filter((r) => !FINE.includes(r.verdict.outcome)).length;
    return [family, String(mine.length), String(found)];
  });
  const lines = [
    formatTable(["command", ...CLASSES, "cases"], [...byCommand, totals]),
    "",
    formatTable(["family", "cases", "findings"], byFamily),
    "",
    `${results.length} cases in ${elapsedSeconds.toFixed(0)} s (seed ${seed}, ${jobs} jobs); ${results.filter((r) => !FINE.includes(r.verdict.outcome)).length} findings of ${findings.size} kinds`,
  ];
  if (findingRows.length > 0) {
    lines.push("", formatTable(["class", "runs", "commands", "cases", "signature"], findingRows));
  }
  if (keep && findingRows.length > 0) lines.push("", `reproducers: ${keep}/case-N/repro.sh`);
  return lines.join("\n");
}

async function main() {
  const seeds: Seeds = await loadSeeds(REPO_ROOT);
  const work = await mkdtemp(join(tmpdir(), "coreml-optimize-fuzz-"));
  if (keep) await mkdir(keep, { recursive: true });
  const started = Date.now();
  const results: Finished[] = [];
  let next = 0;
  const indexes = only ?? [];
  const take = (): number | undefined => {
    if (only) return next < indexes.length ? indexes[next++] : undefined;
    if (next >= maxCases || Date.now() >= deadline) return undefined;
    return next++;
  };
  const worker = async () => {
    for (let index = take(); index !== undefined; index = take()) {
      const c = generateCase(seeds, seed, index, families);
      const finished = await runCase(c, work);
      results.push(finished);
      const fine = FINE.includes(finished.verdict.outcome);
      if (values.verbose || !fine) {
        process.stdout.write(
          `#${c.index} ${c.family} ${c.command} ${(finished.milliseconds / 1000).toFixed(1)}s: ${finished.verdict.outcome}${finished.verdict.detail ? ` (${finished.verdict.detail.slice(0, 200)})` : ""}\n`,
        );
      }
    }
  };
  const stop = () => {
    for (const group of runningGroups) {
      try {
        process.kill(-group, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  try {
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  results.sort((a, b) => a.c.index - b.c.index);
  process.stdout.write(`\n${summarize(results, (Date.now() - started) / 1000)}\n`);
  process.exitCode = results.every((r) => FINE.includes(r.verdict.outcome)) ? 0 : 1;
}

await main();
