import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { runCli } from "../support/cli.js";
import { fourLayers } from "../support/layers.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-split-"));
after(() => rm(work, { recursive: true, force: true }));

test("split writes two halves and --check finds them equal to the whole", async () => {
  const input = join(work, "four.mlpackage");
  await (await fourLayers()).save(input);
  const out = join(work, "parts");
  const result = runCli("split", input, "-o", out, "--check", "2", "--json");
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as {
    boundary: string[];
    weightBytes: number[];
    check: { outputs: { name: string; maxAbsError: number }[] };
  };
  assert.deepEqual(report.boundary, ["act1"]);
  assert.deepEqual(report.weightBytes, [2 * 64 * 64 * 2, 2 * 64 * 64 * 2]);
  assert.deepEqual(
    report.check.outputs.map((o) => [o.name, o.maxAbsError]),
    [["out", 0]],
  );
  for (const part of ["four_part1.mlpackage", "four_part2.mlpackage"]) {
    assert.ok((await stat(join(out, part, "Manifest.json"))).isFile());
  }
  const inspect = runCli("inspect", join(out, "four_part2.mlpackage"), "--json");
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.deepEqual(
    (JSON.parse(inspect.stdout) as { inputs: { name: string }[] }).inputs.map((i) => i.name),
    ["act1", "x"],
  );
});

test("split that cannot write its second part keeps what was there and leaves no first part", async () => {
  const input = join(work, "four.mlpackage");
  await (await fourLayers()).save(input);
  const out = join(work, "blocked");
  // The second part's path is taken by a folder that is not a model: saving there must fail.
  await mkdir(join(out, "four_part2.mlpackage/notes"), { recursive: true });
  const failing = runCli("split", input, "-o", out);
  assert.equal(failing.status, 1);
  assert.match(failing.stderr, /four_part2\.mlpackage/);
  assert.deepEqual(await readdir(out), ["four_part2.mlpackage"]);
  assert.deepEqual(await readdir(join(out, "four_part2.mlpackage")), ["notes"]);
});
