/**
 * The output rules every writing command follows: an output may not be, contain or lie inside
 * an input (by real path), nor lie inside a model; only a model of the same kind is replaced;
 * special files and virtual file systems are refused. Each case checks the one-line error, the
 * exit status, and that nothing in the working folder changed.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runCliIn, type CliResult } from "../support/cli.js";
import { FIXTURES } from "../support/paths.js";

const PACKAGE = join(FIXTURES, "golden/bases/zoo_fp16_ios18.mlpackage");
const NEURAL = join(FIXTURES, "golden/bases/nn.mlmodel");

/** A fingerprint of every entry under `dir`: paths, kinds, link targets and file contents. */
function fingerprint(dir: string): string {
  const hash = createHash("sha256");
  const walk = (at: string, prefix: string) => {
    for (const name of readdirSync(at).sort()) {
      const path = join(at, name);
      const info = lstatSync(path);
      hash.update(`${prefix}${name}:${info.mode}\n`);
      if (info.isSymbolicLink()) hash.update(readlinkSync(path));
      else if (info.isDirectory()) walk(path, `${prefix}${name}/`);
      else if (info.isFile()) hash.update(readFileSync(path));
    }
  };
  walk(dir, "");
  return hash.digest("hex");
}

/** A working folder holding `in.mlpackage`, `nn.mlmodel` and a few files of the user's. */
function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), "out-safety-"));
  cpSync(PACKAGE, join(dir, "in.mlpackage"), { recursive: true });
  cpSync(NEURAL, join(dir, "nn.mlmodel"));
  writeFileSync(join(dir, "notes.txt"), "my notes\n");
  mkdirSync(join(dir, "photos"));
  writeFileSync(join(dir, "photos/cat.jpg"), "not really a jpeg");
  mkdirSync(join(dir, "sub"));
  cpSync(PACKAGE, join(dir, "sub/in.mlpackage"), { recursive: true });
  symlinkSync("in.mlpackage", join(dir, "link.mlpackage"));
  return dir;
}

/** Runs the command in a fresh workspace and checks it was refused with nothing changed. */
function assertRefused(args: string[], reason: RegExp, prepare?: (dir: string) => void): CliResult {
  const dir = workspace();
  prepare?.(dir);
  const before = fingerprint(dir);
  const result = runCliIn(dir, ...args);
  assert.equal(result.status, 1, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
  assert.match(result.stderr, /^coreml-optimize: .+\n$/, "one line");
  assert.match(result.stderr, reason);
  assert.equal(fingerprint(dir), before, `${args.join(" ")} changed the folder`);
  return result;
}

test("an output that is, contains or is a link to the input is refused", () => {
  assertRefused(["quantize", "in.mlpackage", "-o", "."], /\.: contains the input in\.mlpackage/);
  assertRefused(["quantize", "in.mlpackage", "-o", ""], /"": the output path is empty/);
  assertRefused(["quantize", "sub/in.mlpackage", "-o", "sub"], /sub: contains the input/);
  assertRefused(["quantize", "in.mlpackage", "-o", "in.mlpackage"], /is the input/);
  assertRefused(
    ["quantize", "link.mlpackage", "-o", "in.mlpackage"],
    /is the input link\.mlpackage/,
  );
  assertRefused(["quantize", "in.mlpackage", "-o", "link.mlpackage"], /symbolic link/);
  assertRefused(["quantize", "in.mlpackage", "-o", ".."], /contains the input/);
  assertRefused(
    ["quantize-weights", "nn.mlmodel", "-o", ".", "--nbits", "8"],
    /contains the input/,
  );
  assertRefused(
    ["quantize-weights", "nn.mlmodel", "-o", "nn.mlmodel", "--nbits", "8"],
    /is the input/,
  );
});

test("an output inside the input, or inside any model, is refused", () => {
  assertRefused(
    ["quantize", "in.mlpackage", "-o", "in.mlpackage/Data/out.mlpackage"],
    /lies inside the input/,
  );
  assertRefused(
    ["decompress", "in.mlpackage", "-o", "in.mlpackage/Data/com.apple.CoreML"],
    /lies inside the input/,
  );
  assertRefused(["predict", "in.mlpackage", "-o", "in.mlpackage/Data"], /lies inside the input/);
  assertRefused(
    ["predict", "nn.mlmodel", "-o", "sub/in.mlpackage/Data/out"],
    /inside the model package/,
  );
  assertRefused(["predict", "in.mlpackage", "-o", "sub/in.mlpackage"], /is a model package/);
});

test("the other inputs of a command are protected too", () => {
  const config = (dir: string) =>
    writeFileSync(join(dir, "q.yaml"), "config_type: OpLinearQuantizerConfig\nglobal_config: {}\n");
  assertRefused(
    ["quantize", "in.mlpackage", "-o", "q.yaml", "--config", "q.yaml"],
    /is the input q\.yaml/,
    config,
  );
  assertRefused(
    ["predict", "in.mlpackage", "-i", "x=photos/cat.jpg", "-o", "photos"],
    /contains the input photos\/cat\.jpg/,
  );
});

test("existing files and folders that are not models of the kind are never replaced", () => {
  assertRefused(
    ["quantize", "in.mlpackage", "-o", "notes.txt"],
    /notes\.txt: exists and is a file; only an existing \.mlpackage/,
  );
  assertRefused(
    ["quantize", "in.mlpackage", "-o", "photos"],
    /photos: exists and is a folder that is not a model package/,
  );
  assertRefused(
    ["quantize-weights", "nn.mlmodel", "-o", "notes.mlmodel", "--nbits", "8"],
    /not a Core ML model/,
    (dir) => writeFileSync(join(dir, "notes.mlmodel"), "plain text, not a protobuf"),
  );
  assertRefused(
    ["quantize-weights", "nn.mlmodel", "-o", "photos.mlmodel", "--nbits", "8"],
    /is a folder/,
    (dir) => mkdirSync(join(dir, "photos.mlmodel")),
  );
  assertRefused(["predict", "in.mlpackage", "-o", "notes.txt"], /exists and is a file/);
});

test("special files and virtual file systems are refused as outputs", () => {
  assertRefused(["quantize", "in.mlpackage", "-o", "fifo"], /not a regular file or folder/, (dir) =>
    execFileSync("mkfifo", [join(dir, "fifo")]),
  );
  assertRefused(["quantize", "in.mlpackage", "-o", "/dev/zero"], /not a regular file or folder/);
  assertRefused(["quantize", "in.mlpackage", "-o", "/proc/out.mlpackage"], /virtual file system/);
  assertRefused(
    ["quantize", "in.mlpackage", "-o", "notes.txt/out.mlpackage"],
    /notes\.txt is not a folder/,
  );
});

test("a model of the same kind is replaced, and new parent folders are made", () => {
  const dir = workspace();
  let result = runCliIn(dir, "quantize", "in.mlpackage", "-o", "new/deep/out.mlpackage");
  assert.equal(result.status, 0, result.stderr);
  const first = fingerprint(join(dir, "new"));
  result = runCliIn(
    dir,
    "quantize",
    "in.mlpackage",
    "-o",
    "new/deep/out.mlpackage",
    "--dtype",
    "uint8",
  );
  assert.equal(result.status, 0, result.stderr);
  assert.notEqual(fingerprint(join(dir, "new")), first, "replaced by the new model");
  result = runCliIn(dir, "quantize-weights", "nn.mlmodel", "-o", "nn8.mlmodel", "--nbits", "8");
  assert.equal(result.status, 0, result.stderr);
  result = runCliIn(dir, "quantize-weights", "nn.mlmodel", "-o", "nn8.mlmodel", "--nbits", "4");
  assert.equal(result.status, 0, result.stderr);
  result = runCliIn(dir, "predict", "in.mlpackage", "-o", "photos");
  assert.equal(result.status, 0, result.stderr);
  assert.ok(
    existsSync(join(dir, "photos/cat.jpg")),
    "predict fills a folder, keeping what is there",
  );
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith(".")),
    [],
    "no temporary left",
  );
});
