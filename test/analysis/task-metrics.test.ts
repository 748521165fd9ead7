import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { agreement, perplexity } from "../../src/analysis/task-metrics.js";
import { loadModel } from "../../src/format/model.js";
import { readNpy, writeNpy } from "../../src/format/npy.js";
import { loadRunner } from "../../src/runtime/runner.js";
import { runCli } from "../support/cli.js";
import { SHARED } from "../support/paths.js";
import { tempDir, tinyLm, tokenWindows, VOCAB, WINDOW } from "../support/quality-models.js";

const work = await tempDir("task-metrics");
after(() => rm(work, { recursive: true, force: true }));

const windows = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    ids: {
      dtype: "int32" as const,
      shape: [1, WINDOW],
      data: (tokenWindows(n).data as Int32Array).slice(i * WINDOW, (i + 1) * WINDOW),
    },
  }));

test("perplexity: mean next-token cross-entropy, computed here independently", async () => {
  const model = await tinyLm();
  try {
    const runner = await loadRunner(model);
    const samples = windows(3);
    const result = perplexity(runner, samples);
    let total = 0;
    for (const sample of samples) {
      const [logits] = Object.values(runner.predict(sample));
      const scores = logits.data as Float32Array;
      const ids = sample.ids.data;
      for (let t = 0; t < WINDOW - 1; t++) {
        const row = Array.from(scores.subarray(t * VOCAB, (t + 1) * VOCAB));
        const norm = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
        total += norm - row[ids[t + 1]];
      }
    }
    assert.equal(result.tokens, 3 * (WINDOW - 1));
    assert.ok(Math.abs(result.crossEntropy - total / result.tokens) < 1e-9);
    assert.ok(Math.abs(result.perplexity - Math.exp(total / result.tokens)) < 1e-6);
    assert.equal(result.perSample.length, 3);
  } finally {
    await model.close();
  }
});

test("agreement: a model agrees fully with itself, a destroyed one less, with positive KL", async () => {
  const [reference, broken] = await Promise.all([tinyLm(), tinyLm("head_w")]);
  try {
    const [a, b] = await Promise.all([loadRunner(reference), loadRunner(broken)]);
    const same = agreement(a, a, windows(2));
    assert.deepEqual(
      { rows: same.rows, top1: same.top1, top5: same.top5, kl: same.meanKl },
      { rows: 2 * WINDOW, top1: 1, top5: 1, kl: 0 },
    );
    assert.equal(same.snrDb, Infinity);
    const apart = agreement(a, b, windows(2));
    assert.ok(apart.top1 < 0.5, `top-1 ${apart.top1}`);
    assert.ok(apart.meanKl > 0.1 && apart.snrDb < 0);
  } finally {
    await Promise.all([reference.close(), broken.close()]);
  }
});

test("evaluate on the CLI: perplexity with a reference, top1 agreement, errors", async () => {
  const [reference, broken] = await Promise.all([tinyLm(), tinyLm("fc1_w")]);
  const refPath = join(work, "ref.mlpackage");
  const badPath = join(work, "bad.mlpackage");
  await reference.save(refPath);
  await broken.save(badPath);
  await Promise.all([reference.close(), broken.close()]);
  const data = join(work, "ids.npy");
  await writeFile(data, writeNpy(tokenWindows(3)));
  const ppl = runCli(
    "evaluate",
    badPath,
    "--reference",
    refPath,
    "--data",
    `ids=${data}`,
    "--json",
  );
  assert.equal(ppl.status, 0, ppl.stderr);
  const report = JSON.parse(ppl.stdout) as {
    samples: number;
    perplexity: number;
    referencePerplexity: number;
    change: number;
  };
  assert.equal(report.samples, 3);
  assert.ok(Math.abs(report.change - (report.perplexity / report.referencePerplexity - 1)) < 1e-12);
  const top1 = runCli(
    "evaluate",
    badPath,
    "--metric",
    "top1",
    "--reference",
    refPath,
    "--data",
    `ids=${data}`,
  );
  assert.equal(top1.status, 0, top1.stderr);
  assert.match(top1.stdout, /top-1 agreement/);
  const missing = runCli("evaluate", badPath, "--metric", "top1");
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /--metric top1: give the model to agree with as --reference/);
  const wrong = runCli("evaluate", badPath, "--metric", "bleu");
  assert.match(wrong.stderr, /--metric: expected perplexity or top1, got "bleu"/);
});

test(
  "the shared byte LM: our perplexity is PyTorch's, window by window",
  { skip: !SHARED },
  async () => {
    const dir = join(SHARED!, "eval/bytelm");
    const reference = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as {
      per_window_ce_nats_fp32: number[];
    };
    const ids = readNpy(readFileSync(join(dir, "eval_ids.npy")));
    const model = await loadModel(join(dir, "bytelm_fp32.mlpackage"));
    try {
      const samples = [0, 1, 2, 3].map((i) => ({
        ids: {
          dtype: "int32" as const,
          shape: [1, 128],
          data: (ids.data as Int32Array).slice(i * 128, (i + 1) * 128),
        },
      }));
      const result = perplexity(await loadRunner(model), samples);
      result.perSample.forEach((loss, i) =>
        assert.ok(
          Math.abs(loss - reference.per_window_ce_nats_fp32[i]) < 1e-4,
          `window ${i}: ${loss}`,
        ),
      );
    } finally {
      await model.close();
    }
  },
);
