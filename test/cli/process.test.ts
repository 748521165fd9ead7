/**
 * How the CLI process ends: Ctrl-C or SIGTERM remove every temporary and partial output, a
 * closed stdout ends it quietly, and an internal error prints one line unless --debug.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildModel } from "../../src/program/builder.js";
import { REPO_ROOT } from "../support/paths.js";
import { failureMessage } from "../../src/cli/process.js";
import { ConfigError } from "../../src/errors.js";

const MAIN = join(REPO_ROOT, "dist/src/cli/main.js");

function pseudoRandom(count: number): Float32Array {
  const data = new Float32Array(count);
  let state = 12345;
  for (let i = 0; i < count; i++) {
    state = (state * 16807) % 2147483647;
    data[i] = state / 2147483647 - 0.5;
  }
  return data;
}

/** Resolves when `predicate` holds, polling every 20 ms. */
async function until(predicate: () => boolean, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  test(`${signal} during a compression leaves no temporary file and no output`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "signal-"));
    const scratch = join(dir, "tmp");
    const input = join(dir, "big.mlpackage");
    // Grouped k-means over three weights of 2 M takes seconds; the scratch weight file exists
    // from when the first is written until the end, long enough to interrupt (with two, a busy
    // machine sometimes starved this poll past the window).
    const model = await buildModel("iOS18", async (b) => {
      const x = b.input("x", "fp32", [1, 2048]);
      const w1 = await b.constant("w1", {
        dtype: "fp32",
        shape: [1024, 2048],
        data: pseudoRandom(1024 * 2048),
      });
      const w2 = await b.constant("w2", {
        dtype: "fp32",
        shape: [2048, 1024],
        data: pseudoRandom(2048 * 1024).reverse(),
      });
      const w3 = await b.constant("w3", {
        dtype: "fp32",
        shape: [1024, 2048],
        data: pseudoRandom(1024 * 2048).map((v) => v * 0.5),
      });
      b.output(b.linear(b.linear(b.linear(x, w1), w2), w3));
    });
    await model.save(input);
    await model.close();
    mkdirSync(scratch);
    const output = join(dir, "out.mlpackage");
    const child = spawn(
      process.execPath,
      [
        MAIN,
        "palettize",
        input,
        "-o",
        output,
        "--nbits",
        "4",
        "--granularity",
        "per_grouped_channel",
        "--group-size",
        "1",
      ],
      { env: { ...process.env, TMPDIR: scratch, CI: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    let ended = false;
    const exited = new Promise<number | null>((resolve) =>
      child.on("exit", (code) => {
        ended = true;
        resolve(code);
      }),
    );
    // Wait for the scratch weight file: the compression is under way.
    await until(() => ended || readdirSync(scratch).length > 0);
    assert.ok(!ended, `the run ended before it could be interrupted: ${stderr}`);
    child.kill(signal);
    const status = await exited;
    assert.equal(status, signal === "SIGINT" ? 130 : 143, stderr);
    assert.match(stderr, /interrupted/);
    assert.deepEqual(readdirSync(scratch), [], "scratch files removed");
    assert.ok(!existsSync(output));
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith(".")),
      [],
      "no temporary sibling of the output",
    );
  });
}

test("a closed stdout ends the command quietly", async () => {
  // Several hundred weights: more JSON than a pipe buffers, so writes meet the closed pipe.
  const dir = mkdtempSync(join(tmpdir(), "pipe-"));
  const input = join(dir, "many.mlpackage");
  const model = await buildModel("iOS18", async (b) => {
    let x = b.input("x", "fp32", [1, 16]);
    for (let i = 0; i < 400; i++) {
      const w = await b.constant(`w${i}`, {
        dtype: "fp32",
        shape: [16, 16],
        data: pseudoRandom(256),
      });
      x = b.linear(x, w);
    }
    b.output(x);
  });
  await model.save(input);
  await model.close();
  const child = spawn(process.execPath, [MAIN, "inspect", input, "--json"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  // Like `| head -c 0`: the reader goes away before the command writes.
  child.stdout.destroy();
  const status = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  assert.equal(stderr, "");
  assert.equal(status, 0);
});

test("internal errors print one line with a hint; user errors print their message", () => {
  const bug = new TypeError("x is undefined\n    at somewhere (file.js:1:1)");
  const line = failureMessage(bug);
  assert.match(line, /^internal error: x is undefined \(.*--debug/);
  assert.ok(!line.includes("\n"));
  assert.equal(failureMessage(new ConfigError("--dtype: bad")), "--dtype: bad");
  const system = Object.assign(new Error("ENOENT: no such file or directory, open 'a/b'"), {
    code: "ENOENT",
    syscall: "open",
    path: "a/b",
  });
  assert.equal(failureMessage(system), "a/b: no such file or folder");
});

test("an interrupted run takes back the outputs it already wrote, and restores what they replaced", async () => {
  const dir = mkdtempSync(join(tmpdir(), "held-"));
  const replaced = join(dir, "old.bin");
  writeFileSync(replaced, "the user's previous output");
  const script = `
    import { writeFile } from "node:fs/promises";
    import { installProcessHandlers } from ${JSON.stringify(join(REPO_ROOT, "dist/src/cli/process.js"))};
    import { writeAtomically } from ${JSON.stringify(join(REPO_ROOT, "dist/src/format/node-package.js"))};
    installProcessHandlers();
    await writeAtomically(${JSON.stringify(replaced)}, (temp) => writeFile(temp, "new"));
    await writeAtomically(${JSON.stringify(join(dir, "made/new.bin"))}, (temp) => writeFile(temp, "new"));
    process.kill(process.pid, "SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 5000));
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "pipe" });
  const status = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  assert.equal(status, 143);
  assert.equal(readFileSync(replaced, "utf8"), "the user's previous output");
  assert.deepEqual(readdirSync(dir), ["old.bin"]);
});

test("a second Ctrl-C while the first one cleans up does not cut the cleanup short", async () => {
  const dir = mkdtempSync(join(tmpdir(), "twice-"));
  const temporary = join(dir, "scratch.bin");
  const script = `
    import { writeFileSync } from "node:fs";
    import { installProcessHandlers } from ${JSON.stringify(join(REPO_ROOT, "dist/src/cli/process.js"))};
    import { removeOnExit } from ${JSON.stringify(join(REPO_ROOT, "dist/src/format/temporaries.js"))};
    installProcessHandlers();
    writeFileSync(${JSON.stringify(temporary)}, "scratch");
    removeOnExit(${JSON.stringify(temporary)});
    process.stdout.write("ready\\n");
    setTimeout(() => {}, 10_000);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: "pipe" });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  await new Promise((resolve) => child.stdout.once("data", resolve));
  child.kill("SIGINT");
  // The cleanup first waits for file operations in flight: the second signal lands meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 30));
  child.kill("SIGINT");
  assert.equal(await exited, 130);
  assert.ok(!existsSync(temporary));
});
