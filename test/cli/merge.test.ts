import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runCli } from "../support/cli.js";
import { prefillDecode } from "../support/multifunction.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-merge-"));
after(() => rm(work, { recursive: true, force: true }));
const input = join(work, "prefill-decode.mlpackage");
const model = await prefillDecode();
await model.save(input);
await model.close();

const weightFile = (path: string) => join(path, "Data/com.apple.CoreML/weights/weight.bin");

test("merge: functions of two packages, identical weights once, duplicate names refused", async () => {
  const prefill = join(work, "prefill-only.mlpackage");
  const decode = join(work, "decode-only.mlpackage");
  // Two single-function packages, as converters write them: each with its own copy of `w`.
  for (const [fn, path] of [
    ["prefill", prefill],
    ["decode", decode],
  ]) {
    const split = runCli("merge", `${input}:${fn}=main`, "-o", path, "--json");
    assert.equal(split.status, 0, split.stderr);
  }
  const out = join(work, "merged.mlpackage");
  const result = runCli(
    "merge",
    `${prefill}:main=prefill`,
    `${decode}=decode`,
    "-o",
    out,
    "--default",
    "decode",
    "--json",
  );
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as {
    bytesSaved: number;
    defaultFunction: string;
    functions: { name: string }[];
  };
  assert.equal(report.bytesSaved, 256 * 256 * 2);
  assert.equal(report.defaultFunction, "decode");
  assert.deepEqual(
    report.functions.map((f) => f.name),
    ["prefill", "decode"],
  );
  assert.ok((await stat(weightFile(out))).size < 256 * 256 * 2 + 2 * 32 * 256 * 2 + 1024);

  const clash = runCli("merge", prefill, decode, "-o", join(work, "clash.mlpackage"));
  assert.equal(clash.status, 1);
  assert.match(clash.stderr, /would both be function main: rename one/);
});
