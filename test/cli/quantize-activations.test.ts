import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeNpy } from "../../src/format/npy.js";
import { buildModel } from "../../src/program/builder.js";
import { runCli } from "../support/cli.js";

test("quantize-activations --inputs DIR --check --json, and compare --inputs DIR", async () => {
  const dir = await mkdtemp(join(tmpdir(), "act-cli-"));
  try {
    const model = await buildModel("iOS16", async (b) => {
      const x = b.input("x", "fp32", [1, 8]);
      const data = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
      const w = await b.constant("w", { dtype: "fp32", shape: [8, 8], data });
      b.output(b.unary("relu", b.linear(x, w, undefined, "fc"), "out"));
    });
    await model.save(join(dir, "in.mlpackage"));
    await model.close();
    for (const sample of ["s1", "s2"]) {
      await mkdir(join(dir, "samples", sample), { recursive: true });
      const data = Float32Array.from({ length: 8 }, (_, i) => 4 * Math.cos(i + sample.length));
      await writeFile(
        join(dir, "samples", sample, "x.npy"),
        writeNpy({ dtype: "fp32", shape: [1, 8], data }),
      );
    }
    const input = join(dir, "in.mlpackage");
    const output = join(dir, "out.mlpackage");
    const refused = runCli("quantize-activations", input, "-o", output, "--samples", "2");
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /iOS17/);
    const run = runCli(
      "quantize-activations",
      input,
      "-o",
      output,
      "--inputs",
      join(dir, "samples"),
      "--target",
      "ios17",
      "--check",
      "2",
      "--json",
    );
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(
      report.activations.map((p: { activation: string }) => p.activation),
      // fc's output too: relu is an output, so the pair goes between fc and relu.
      ["x", "fc"],
    );
    assert.equal(report.check.samples, 2);
    assert.ok(report.check.outputs[0].snrDb > 25);
    const compare = runCli("compare", input, output, "--inputs", join(dir, "samples"), "--json");
    assert.equal(compare.status, 0, compare.stderr);
    assert.equal(JSON.parse(compare.stdout).samples, 2);
    const missing = runCli("compare", input, output, "--inputs", dir);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /missing x\.npy/);
    // Raw little-endian values of the declared dtype and shape work too; a wrong size does not.
    await mkdir(join(dir, "raw"));
    const raw = Float32Array.from({ length: 8 }, (_, i) => i - 4);
    await writeFile(join(dir, "raw", "x.raw"), new Uint8Array(raw.buffer));
    const fromRaw = runCli("compare", input, output, "--inputs", join(dir, "raw"), "--json");
    assert.equal(fromRaw.status, 0, fromRaw.stderr);
    assert.equal(JSON.parse(fromRaw.stdout).samples, 1);
    await writeFile(join(dir, "raw", "x.raw"), new Uint8Array(12));
    const short = runCli("compare", input, output, "--inputs", join(dir, "raw"));
    assert.equal(short.status, 1);
    assert.match(short.stderr, /x\.raw: 12 bytes, but input x \(fp32\[1,8\]\) needs 32/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
