import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeNpy } from "../../src/format/npy.js";
import { buildModel } from "../../src/program/builder.js";
import { runCli } from "../support/cli.js";

function values(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from(
    { length: n },
    () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5,
  );
}

/** A two-layer model in a package, and a folder of calibration samples for it. */
async function fixture(): Promise<{ dir: string; model: string; inputs: string }> {
  const dir = await mkdtemp(join(tmpdir(), "cli-data-aware-"));
  const model = await buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp32", [4, 64]);
    const w1 = await b.constant("w1", { dtype: "fp32", shape: [64, 64], data: values(4096, 1) });
    const w2 = await b.constant("w2", { dtype: "fp32", shape: [32, 64], data: values(2048, 2) });
    const h = b.unary("relu", b.linear(x, w1, undefined, "fc1"), "h");
    b.output(b.linear(h, w2, undefined, "fc2"));
  });
  await model.save(join(dir, "in.mlpackage"));
  await model.close();
  const inputs = join(dir, "calib");
  for (let s = 0; s < 3; s++) {
    await mkdir(join(inputs, `s${s}`), { recursive: true });
    const x = { dtype: "fp32" as const, shape: [4, 64], data: values(256, 10 + s) };
    await writeFile(join(inputs, `s${s}`, "x.npy"), writeNpy(x));
  }
  return { dir, model: join(dir, "in.mlpackage"), inputs };
}

test("quantize --algorithm gptq and palettize --algorithm sensitive-kmeans write models", async () => {
  const { dir, model, inputs } = await fixture();
  try {
    const gptq = runCli(
      "quantize",
      model,
      "-o",
      join(dir, "gptq.mlpackage"),
      "--dtype",
      "int4",
      "--algorithm",
      "gptq",
      "--inputs",
      inputs,
      "--weight-threshold",
      "0",
      "--json",
      "-q",
    );
    assert.equal(gptq.status, 0, gptq.stderr);
    const report = JSON.parse(gptq.stdout) as {
      weights: { name: string; config: { algorithm?: string } }[];
      warnings: string[];
    };
    assert.deepEqual(
      report.weights.map((w) => [w.name, w.config.algorithm]),
      [
        ["w1", "gptq"],
        ["w2", "gptq"],
      ],
    );
    assert.deepEqual(report.warnings, []);
    const lut = runCli(
      "palettize",
      model,
      "-o",
      join(dir, "lut.mlpackage"),
      "--nbits",
      "3",
      "--algorithm",
      "sensitive-kmeans",
      "--samples",
      "2",
      "--weight-threshold",
      "0",
      "--check",
      "2",
      "-q",
    );
    assert.equal(lut.status, 0, lut.stderr);
    assert.ok(existsSync(join(dir, "lut.mlpackage")));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("bad data-aware settings fail on one line naming the flag, and nothing is written", async () => {
  const { dir, model, inputs } = await fixture();
  try {
    const cases: [string[], RegExp][] = [
      [["quantize", "--algorithm", "optimal"], /--algorithm: expected one of rtn, gptq/],
      [["quantize", "--hessian-dampening", "0.1"], /--hessian-dampening: is a GPTQ setting/],
      [
        ["quantize", "--algorithm", "gptq", "--hessian-dampening", "-1"],
        /--hessian-dampening: expected a number in \[0, Infinity\]/,
      ],
      [
        ["palettize", "--nbits", "4", "--mode", "uniform", "--algorithm", "sensitive-kmeans"],
        /--algorithm: sensitive-kmeans needs mode kmeans/,
      ],
      [["quantize", "--algorithm", "gptq", "--inputs", join(dir, "missing")], /missing/],
    ];
    for (const [[command, ...args], message] of cases) {
      const out = join(dir, "out.mlpackage");
      const result = runCli(command, model, "-o", out, "--inputs", inputs, ...args, "-q");
      assert.equal(result.status, 1, `${args.join(" ")}: ${result.stdout}`);
      assert.match(result.stderr, message);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.ok(!existsSync(out));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
