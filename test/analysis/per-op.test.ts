import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { comparePerOp } from "../../src/analysis/per-op.js";
import { writeNpy } from "../../src/format/npy.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { palettizerConfig } from "../../src/config/palettizer.js";
import { runCli } from "../support/cli.js";
import { tempDir, tinyLm, tokenWindows, WINDOW } from "../support/quality-models.js";

const work = await tempDir("per-op");
after(() => rm(work, { recursive: true, force: true }));

const samples = [0, 1, 2].map((i) => ({
  ids: {
    dtype: "int32" as const,
    shape: [1, WINDOW],
    data: (tokenWindows(3).data as Int32Array).slice(i * WINDOW, (i + 1) * WINDOW),
  },
}));

test("per-op: a destroyed weight's op is the first value below the threshold and the worst", async () => {
  const [reference, broken] = await Promise.all([tinyLm(), tinyLm("fc2_w")]);
  try {
    const report = await comparePerOp(reference, broken, samples);
    const names = report.values.map((v) => v.name);
    assert.ok(names.length >= 5, names.join(","));
    // Everything before fc2 is exact.
    for (const v of report.values.slice(0, names.indexOf("fc2"))) assert.equal(v.snrDb, Infinity);
    const fc2 = report.values.find((v) => v.name === "fc2")!;
    assert.equal(report.firstBelow, "fc2");
    assert.equal(fc2.op, "fc2");
    assert.equal(fc2.opType, "linear");
    assert.ok(fc2.snrDb < 0, `fc2 SNR ${fc2.snrDb}`);
    assert.equal(fc2.inputSnrDb, Infinity);
    assert.equal(report.worst[0], "fc2");
    assert.equal(report.onlyInReference + report.onlyInCandidate, 0);
  } finally {
    await Promise.all([reference.close(), broken.close()]);
  }
});

test("per-op: a palettized model against its source (constexpr weights, same value names)", async () => {
  const reference = await tinyLm();
  const { model: compressed } = await palettizeWeights(reference, {
    globalConfig: palettizerConfig({ nbits: 4 }),
  });
  try {
    const report = await comparePerOp(reference, compressed, samples, { thresholdDb: 5 });
    assert.deepEqual(report.values.map((v) => v.name).slice(0, 2), ["embed", "fc1"]);
    // 4-bit tables leave every value far from zero SNR, but not exact.
    for (const v of report.values) assert.ok(v.snrDb > 10 && v.snrDb < 60, `${v.name} ${v.snrDb}`);
    assert.equal(report.firstBelow, undefined);
  } finally {
    await Promise.all([reference.close(), compressed.close()]);
  }
});

test("compare --per-op on the CLI: table, --json and --data batches", async () => {
  const [reference, broken] = await Promise.all([tinyLm(), tinyLm("head_w")]);
  const refPath = join(work, "ref.mlpackage");
  const badPath = join(work, "bad.mlpackage");
  await reference.save(refPath);
  await broken.save(badPath);
  await Promise.all([reference.close(), broken.close()]);
  const data = join(work, "ids.npy");
  await writeFile(data, writeNpy(tokenWindows(4)));
  const json = runCli("compare", refPath, badPath, "--per-op", "--data", `ids=${data}`, "--json");
  assert.equal(json.status, 0, json.stderr);
  const report = JSON.parse(json.stdout) as {
    samples: number;
    firstBelow: string;
    worst: string[];
  };
  assert.equal(report.samples, 4);
  assert.equal(report.firstBelow, "head");
  assert.equal(report.worst[0], "head");
  const text = runCli(
    "compare",
    refPath,
    badPath,
    "--per-op",
    "--threshold",
    "10",
    "--limit",
    "2",
    "--data",
    `ids=${data}`,
  );
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /2 sample\(s\)/);
  assert.match(text.stdout, /head .*<- first below 10 dB/);
  assert.match(text.stdout, /first value below 10 dB: head/);
  const bad = runCli("compare", refPath, badPath, "--per-op", "--threshold", "x");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--threshold: expected a number/);
});
