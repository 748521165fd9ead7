/**
 * The fuzz harness (test/fuzz/): its cases depend only on the seed and their number, its
 * verdicts follow the rules users are promised, and a short seeded campaign against the CLI
 * must find nothing but clean errors and loadable successes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../support/paths.js";
import { FAMILIES, generateCase, type Case } from "./cases.js";
import type { ChildResult } from "./child.js";
import { classify, type Observation } from "./classify.js";
import { loadSeeds } from "./seeds.js";

/** A digest of everything a case does: its command line, files and checks. */
function digest(c: Case): string {
  const hash = createHash("sha1");
  hash.update(JSON.stringify({ ...c, plan: undefined }));
  for (const entry of c.plan) {
    hash.update(JSON.stringify({ ...entry, bytes: undefined }));
    if (entry.kind === "file") hash.update(entry.bytes);
  }
  return hash.digest("hex");
}

test("cases depend only on the seed and their number", async () => {
  const seeds = await loadSeeds(REPO_ROOT);
  const forward = Array.from({ length: 60 }, (_, i) => digest(generateCase(seeds, "7", i)));
  const backward = Array.from({ length: 60 }, (_, i) => digest(generateCase(seeds, "7", 59 - i)));
  assert.deepEqual(backward.reverse(), forward);
  const otherSeed = Array.from({ length: 60 }, (_, i) => digest(generateCase(seeds, "8", i)));
  assert.ok(otherSeed.every((d, i) => d !== forward[i]));
});

test("a few hundred cases reach every family and every command", async () => {
  const seeds = await loadSeeds(REPO_ROOT);
  const cases = Array.from({ length: 300 }, (_, i) => generateCase(seeds, "12", i));
  assert.deepEqual(new Set(cases.map((c) => c.family)), new Set(FAMILIES));
  const commands = new Set(cases.map((c) => c.command));
  for (const command of ["inspect", "decompress", "quantize", "palettize", "prune", "compress"]) {
    assert.ok(commands.has(command as Case["command"]), command);
  }
  for (const command of ["quantize-weights", "quantize-activations", "predict", "compare"]) {
    assert.ok(commands.has(command as Case["command"]), command);
  }
});

const baseCase: Case = {
  index: 0,
  family: "bytes",
  command: "quantize",
  args: ["quantize", "in.mlpackage", "-o", "out.mlpackage"],
  plan: [],
  mutations: ["weight.bin: truncated"],
  inputs: ["in.mlpackage"],
  output: "out.mlpackage",
  outputKind: "model",
};

function observed(run: Partial<ChildResult>, rest: Partial<Observation> = {}): Observation {
  return {
    run: {
      code: 1,
      signal: null,
      stdout: "",
      stderr: "",
      peakRssBytes: 0,
      cpuSeconds: 0,
      milliseconds: 1,
      ...run,
    },
    changedInputs: [],
    leftovers: [],
    outputChanged: false,
    ...rest,
  };
}

test("verdicts follow the promise: one clear line, nothing written, input untouched", () => {
  const verdict = (run: Partial<ChildResult>, rest?: Partial<Observation>, c = baseCase) =>
    classify(c, observed(run, rest)).outcome;
  const clean = "coreml-optimize: in.mlpackage: weight file is 3 bytes\n";
  assert.equal(verdict({ stderr: clean }), "clean-error");
  assert.equal(verdict({ stderr: `${clean}second line\n` }), "unclear-error");
  assert.equal(verdict({ stderr: "" }), "unclear-error");
  const trace =
    "coreml-optimize: internal error: TypeError: x is undefined\n    at f (file:///a/dist/src/b.js:3:4)\n";
  assert.equal(verdict({ stderr: trace }), "crash");
  assert.equal(verdict({ code: null, signal: "SIGSEGV" }), "crash");
  assert.equal(verdict({ code: null, signal: "SIGKILL", killedFor: "timeout" }), "hang");
  assert.equal(verdict({ code: null, signal: "SIGKILL", killedFor: "memory" }), "oom");
  assert.equal(
    verdict({ stderr: clean }, { leftovers: ["tmp/.coreml-optimize-1-ab.bin"] }),
    "partial-output",
  );
  assert.equal(verdict({ stderr: clean }, { outputChanged: true }), "partial-output");
  assert.equal(verdict({ code: 0 }, { changedInputs: ["in.mlpackage"] }), "input-modified");
  assert.equal(verdict({ code: 0 }, { verify: { ok: true, detail: "ok" } }), "success");
  assert.equal(
    verdict({ code: 0 }, { verify: { ok: false, detail: "FormatError" } }),
    "bad-output",
  );
  const interrupted: Case = {
    ...baseCase,
    family: "signal",
    signal: { name: "SIGINT", afterMs: 1 },
  };
  assert.equal(verdict({ code: null, signal: "SIGINT" }, {}, interrupted), "clean-error");
  assert.equal(
    verdict(
      { code: null, signal: "SIGINT" },
      { leftovers: ["w/cwd/.out.mlpackage.tmp-1-x"] },
      interrupted,
    ),
    "partial-output",
  );
  // Killed silently while exiting (handlers gone): fine when the output is whole.
  const exiting = { code: null, signal: "SIGINT", stderr: "" } as const;
  const whole = { outputChanged: true, verify: { ok: true, detail: "ok" } };
  assert.equal(verdict(exiting, whole, interrupted), "success");
  assert.equal(
    verdict(exiting, { ...whole, verify: { ok: false, detail: "FormatError" } }, interrupted),
    "partial-output",
  );
});

test("a short seeded campaign finds only clean errors and loadable successes", () => {
  const result = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, "dist/test/fuzz/main.js"),
      "--seed",
      "12",
      "--cases",
      "300",
      "--minutes",
      "2.5",
      "--timeout",
      "10",
      "--memory",
      "1024",
    ],
    { encoding: "utf8" },
  );
  assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
});
