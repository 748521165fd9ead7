import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseCandidates } from "../../src/analysis/candidates.js";
import { measureSensitivity } from "../../src/analysis/sensitivity.js";
import { compareModels } from "../../src/runtime/compare.js";
import { palettizerConfig } from "../../src/config/palettizer.js";
import { writeNpy } from "../../src/format/npy.js";
import { compressModel } from "../../src/passes/registry.js";
import { runCli } from "../support/cli.js";
import { tempDir, tinyLm, tokenWindows, WINDOW } from "../support/quality-models.js";

const work = await tempDir("sensitivity");
after(() => rm(work, { recursive: true, force: true }));

const samples = [0, 1].map((i) => ({
  ids: {
    dtype: "int32" as const,
    shape: [1, WINDOW],
    data: (tokenWindows(2).data as Int32Array).slice(i * WINDOW, (i + 1) * WINDOW),
  },
}));

test("sensitivity: every weight × candidate; fewer bits cost more; a trial equals compressing that weight alone", async () => {
  const model = await tinyLm();
  try {
    const table = await measureSensitivity(model, samples);
    assert.deepEqual(
      table.weights.map((w) => w.name),
      ["embedding", "fc1_w", "fc2_w", "head_w"],
    );
    assert.equal(table.output, "head");
    assert.equal(table.scores, true);
    assert.equal(table.trials.length, 4 * 6);
    const trial = (weight: string, candidate: string) =>
      table.trials.find((t) => t.weight === weight && t.candidate === candidate)!;
    for (const w of table.weights) {
      const snr = ["int8/ch", "kmeans6", "kmeans4", "kmeans2"].map((c) => trial(w.name, c).snrDb);
      snr.slice(1).forEach((s, i) => assert.ok(s < snr[i], `${w.name}: ${snr.join(", ")}`));
      assert.ok(Math.abs(trial(w.name, "kmeans4").bitsPerWeight - 4) < 0.2);
      assert.ok(trial(w.name, "kmeans2").meanKl! > trial(w.name, "int8/ch").meanKl!);
    }
    // The resumed, swapped-weight run against a model with only fc2_w palettized, run in full.
    const alone = await compressModel(model, {
      opNameConfigs: { fc2_w: palettizerConfig({ nbits: 3 }) },
    });
    try {
      const [head] = await compareModels(model, alone.model, samples);
      assert.ok(Math.abs(head.snrDb - trial("fc2_w", "kmeans3").snrDb) < 1e-6);
    } finally {
      await alone.model.close();
    }
  } finally {
    await model.close();
  }
});

test("candidates files: labelled coremltools configs, errors name the entry", () => {
  const [grouped] = parseCandidates({
    candidates: [
      {
        label: "k4/g8",
        config_type: "OpPalettizerConfig",
        nbits: 4,
        granularity: "per_grouped_channel",
        group_size: 8,
      },
    ],
  });
  assert.equal(grouped.label, "k4/g8");
  assert.equal(grouped.config.kind, "OpPalettizerConfig");
  assert.throws(() => parseCandidates({ candidates: [] }), /expected a non-empty list/);
  assert.throws(
    () =>
      parseCandidates({
        candidates: [{ label: "x", config_type: "OpPalettizerConfig", nbits: 5 }],
      }),
    /candidates\[0\]: .*nbits/,
  );
  assert.throws(
    () => parseCandidates({ candidates: [{ config_type: "OpPalettizerConfig", nbits: 4 }] }),
    /candidates\[0\]\.label/,
  );
});

test("sensitivity on the CLI: table with a candidates file, --json", async () => {
  const model = await tinyLm();
  const path = join(work, "lm.mlpackage");
  await model.save(path);
  await model.close();
  const data = join(work, "ids.npy");
  await writeFile(data, writeNpy(tokenWindows(2)));
  const candidates = join(work, "candidates.yaml");
  await writeFile(
    candidates,
    "candidates:\n  - { label: k2, config_type: OpPalettizerConfig, nbits: 2 }\n  - { label: i8, config_type: OpLinearQuantizerConfig, dtype: int8 }\n",
  );
  const text = runCli("sensitivity", path, "--data", `ids=${data}`, "--candidates", candidates);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /weight +elements +k2 +i8/);
  assert.match(text.stdout, /fc1_w +8192 /);
  assert.match(text.stdout, /bits\/weight +2\.\d+ +8\.\d+/);
  const json = runCli("sensitivity", path, "--samples", "1", "--json");
  assert.equal(json.status, 0, json.stderr);
  const report = JSON.parse(json.stdout) as { samples: number; trials: unknown[] };
  assert.equal(report.samples, 1);
  assert.equal(report.trials.length, 24);
  const missing = runCli("sensitivity", path, "--candidates", join(work, "none.yaml"));
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /none\.yaml/);
});
