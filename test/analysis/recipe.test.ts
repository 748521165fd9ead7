import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { chooseRecipe, recipeSteps } from "../../src/analysis/recipe.js";
import type { SensitivityTable, Trial } from "../../src/analysis/sensitivity.js";
import { defaultCandidates } from "../../src/analysis/sensitivity.js";
import { writeNpy } from "../../src/format/npy.js";
import { runCli } from "../support/cli.js";
import { tempDir, tinyLm, tokenWindows } from "../support/quality-models.js";

const work = await tempDir("recipe");
after(() => rm(work, { recursive: true, force: true }));

/** Two weights of 1000 elements: "a" is sensitive, "b" is not. */
function table(): SensitivityTable {
  const trial = (weight: string, candidate: string, bits: number, snrDb: number): Trial => ({
    weight,
    candidate,
    bytes: (bits * 1000) / 8,
    bitsPerWeight: bits,
    snrDb,
    psnrDb: snrDb,
  });
  const weight = (name: string) => ({
    name,
    value: name,
    shape: [10, 100],
    elements: 1000,
    bytes: 4000,
  });
  return {
    output: "y",
    scores: false,
    samples: 1,
    weights: [weight("a"), weight("b")],
    candidates: defaultCandidates(),
    trials: [
      trial("a", "int8/ch", 8, 50),
      trial("a", "kmeans4", 4, 20),
      trial("a", "kmeans2", 2, 10),
      trial("b", "int8/ch", 8, 60),
      trial("b", "kmeans4", 4, 45),
      trial("b", "kmeans2", 2, 35),
    ],
    skipped: [],
  };
}

test("recipes: the budget buys bits for the sensitive weight first", () => {
  const recipe = chooseRecipe(table(), { bits: 5 });
  assert.deepEqual(
    recipe.choices.map((c) => [c.weight, c.candidate]),
    [
      ["a", "int8/ch"],
      ["b", "kmeans2"],
    ],
  );
  assert.equal(recipe.predicted.bitsPerWeight, 5);
  const noise = 10 ** -5 + 10 ** -3.5;
  assert.ok(Math.abs(recipe.predicted.snrDb - -10 * Math.log10(noise)) < 1e-9);
  // Uniform 4 bits (the same size): noise 1e-2 + 10^-4.5, far worse.
  assert.ok(recipe.predicted.snrDb > 19);
  const floor = chooseRecipe(table(), { minSnrDb: 40 });
  assert.ok(floor.predicted.snrDb >= 40);
  assert.ok(floor.predicted.bitsPerWeight <= 8);
  assert.equal(chooseRecipe(table(), { bits: 100 }).predicted.snrDb, Infinity);
  assert.throws(() => chooseRecipe(table(), { bits: 1 }), /below the smallest recipe/);
  const steps = recipeSteps(recipe);
  assert.deepEqual(
    steps.map((s) => Object.keys(s.config.opNameConfigs!)),
    [["b"], ["a"]],
  );
});

/** Seeded tables of 5 weights with 3 candidates each (sizes and SNRs at random). */
function randomTable(seed: number): SensitivityTable {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const names = ["a", "b", "c", "d", "e"];
  const weights = names.map((name) => {
    const elements = 500 + Math.floor(next() * 3000);
    return { name, value: name, shape: [elements], elements, bytes: elements * 2 };
  });
  const trials = weights.flatMap((w) =>
    ["int8/ch", "kmeans4", "kmeans2"].map((candidate, k): Trial => {
      const bits = [8, 4, 2][k] + next();
      return {
        weight: w.name,
        candidate,
        bytes: Math.round((bits * w.elements) / 8),
        bitsPerWeight: bits,
        snrDb: 5 + next() * 40 - 8 * k,
        psnrDb: 0,
      };
    }),
  );
  return { ...table(), weights, trials };
}

test("recipes: the allocation finds the least summed noise that fits, as trying every recipe does", () => {
  const noise = (snrDb: number) => (snrDb === Infinity ? 0 : 10 ** (-snrDb / 10));
  for (let seed = 1; seed <= 12; seed++) {
    const t = randomTable(seed);
    const options = t.weights.map((w) => [
      { candidate: null as string | null, bytes: w.bytes, noise: 0 },
      ...t.trials
        .filter((x) => x.weight === w.name)
        .map((x) => ({
          candidate: x.candidate as string | null,
          bytes: x.bytes,
          noise: noise(x.snrDb),
        })),
    ]);
    const elements = t.weights.reduce((n, w) => n + w.elements, 0);
    const smallest = options.reduce((n, l) => n + Math.min(...l.map((o) => o.bytes)), 0);
    // Every recipe: 4^5 of them.
    const recipes = options.reduce(
      (all, list) =>
        all.flatMap((r) =>
          list.map((o) => ({ bytes: r.bytes + o.bytes, noise: r.noise + o.noise })),
        ),
      [{ bytes: 0, noise: 0 }],
    );
    for (const bits of [3, 4.5, 6]) {
      const budget = (bits * elements) / 8;
      if (smallest > budget) continue;
      const recipe = chooseRecipe(t, { bits });
      const chosen = recipe.choices.reduce((n, c) => n + noise(c.snrDb), 0);
      assert.ok(recipe.predicted.bytes <= budget);
      const best = (room: number) =>
        Math.min(...recipes.filter((r) => r.bytes <= room).map((r) => r.noise));
      // Sizes are counted in 1/20000 of the room: at most one such step lost per weight.
      const slack = (5 * (budget - smallest)) / 20_000;
      assert.ok(chosen >= best(budget) * (1 - 1e-12), `seed ${seed}, ${bits} bits`);
      assert.ok(chosen <= best(budget - slack) * (1 + 1e-12), `seed ${seed}, ${bits} bits`);
    }
    const floor = chooseRecipe(t, { minSnrDb: 30 });
    const fewest = Math.min(...recipes.filter((r) => r.noise <= 1e-3).map((r) => r.bytes));
    assert.ok(floor.predicted.snrDb >= 30 - 1e-9);
    const spread = options.reduce(
      (n, l) => n + Math.max(...l.map((o) => o.bytes)) - Math.min(...l.map((o) => o.bytes)),
      0,
    );
    assert.ok(floor.predicted.bytes <= fewest + (5 * spread) / 20_000);
  }
});

test("recipe on the CLI: writes steps compress --config runs, predicted and measured", async () => {
  const model = await tinyLm();
  const path = join(work, "lm.mlpackage");
  await model.save(path);
  await model.close();
  const data = join(work, "ids.npy");
  await writeFile(data, writeNpy(tokenWindows(2)));
  const out = join(work, "recipe.yaml");
  const run = runCli("recipe", path, "-o", out, "--bits", "4.5", "--data", `ids=${data}`, "--json");
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout) as {
    predicted: { bitsPerWeight: number; snrDb: number };
    measured: { bitsPerWeight: number; snrDb: number; top1: number };
    choices: { weight: string; candidate: string | null }[];
  };
  assert.ok(report.predicted.bitsPerWeight <= 4.5);
  assert.ok(Math.abs(report.measured.bitsPerWeight - report.predicted.bitsPerWeight) < 1e-9);
  // Additive noise is a fair prediction on a model this small.
  assert.ok(Math.abs(report.measured.snrDb - report.predicted.snrDb) < 3, JSON.stringify(report));
  assert.equal(report.choices.length, 4);
  const yaml = readFileSync(out, "utf8");
  assert.match(yaml, /^# recipe for .* \(4\.5 bits per weight\)/);
  assert.match(
    yaml,
    /steps:\n {2}- config_type: Op\w+Config\n {4}op_name_configs:\n {6}# \S+: [\d.]+ bits; alone: output SNR/,
  );
  const compressed = join(work, "out.mlpackage");
  const apply = runCli("compress", path, "-o", compressed, "--config", out, "--json");
  assert.equal(apply.status, 0, apply.stderr);
  // A saved table (infinities written as strings) gives a recipe without measuring again.
  const sensitivity = runCli("sensitivity", path, "--data", `ids=${data}`, "--json");
  assert.equal(sensitivity.status, 0, sensitivity.stderr);
  const saved = join(work, "table.json");
  await writeFile(saved, sensitivity.stdout);
  const floor = runCli(
    "recipe",
    path,
    "-o",
    join(work, "floor.yaml"),
    "--min-snr",
    "25",
    "--table",
    saved,
    "--no-verify",
    "--json",
  );
  assert.equal(floor.status, 0, floor.stderr);
  const floorReport = JSON.parse(floor.stdout) as {
    predicted: { snrDb: number };
    measured?: unknown;
  };
  assert.ok(floorReport.predicted.snrDb >= 25);
  assert.equal(floorReport.measured, undefined);
  const none = runCli("recipe", path, "-o", join(work, "x.yaml"), "--samples", "1");
  assert.equal(none.status, 1);
  assert.match(none.stderr, /give one target: --bits B, --size S or --min-snr D/);
  const size = runCli("recipe", path, "-o", join(work, "x.yaml"), "--size", "3 parsecs");
  assert.match(size.stderr, /--size: expected a fraction like 0\.3/);
  const program = runCli("recipe", path, "-o", join(work, "x.yaml"), "--bits", "4", "--compensate");
  assert.equal(program.status, 1);
  assert.match(program.stderr, /--compensate: for neural networks \(.* is an ML program\)/);
  assert.equal(program.stderr.trim().split("\n").length, 1, program.stderr);
  assert.ok(!existsSync(join(work, "x.yaml")));
});
