/** Real ML programs people shipped (../shared/models and runtime) compress, save and reload. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { inspectModel } from "../../src/analysis/inspect.js";
import {
  linearQuantizerConfig,
  magnitudePrunerConfig,
  palettizerConfig,
} from "../../src/config/index.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { pruneWeights } from "../../src/passes/prune.js";
import { SHARED } from "../support/paths.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-real-models-"));
after(() => rm(work, { recursive: true, force: true }));

async function mlPackages(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.name.startsWith("_negative")) continue;
    if (entry.name.endsWith(".mlpackage")) found.push(path);
    else if (entry.isDirectory()) found.push(...(await mlPackages(path)));
  }
  return found;
}

const models = SHARED
  ? [...(await mlPackages(join(SHARED, "models"))), ...(await mlPackages(join(SHARED, "runtime")))]
  : [];

type Pass = (m: MLModel, raiseTarget?: "iOS16") => Promise<{ model: MLModel }>;
const passes: [string, Pass][] = [
  [
    "int8",
    (m, raiseTarget) =>
      linearQuantizeWeights(m, { globalConfig: linearQuantizerConfig() }, { raiseTarget }),
  ],
  [
    "pal4",
    (m, raiseTarget) =>
      palettizeWeights(m, { globalConfig: palettizerConfig({ nbits: 4 }) }, { raiseTarget }),
  ],
  [
    "prune50",
    (m, raiseTarget) =>
      pruneWeights(
        m,
        { globalConfig: magnitudePrunerConfig({ targetSparsity: 0.5 }) },
        { raiseTarget },
      ),
  ],
];

let index = 0;
for (const path of models) {
  test(`${path.slice(SHARED!.length + 1)} compresses, saves, reloads and decompresses`, async () => {
    const model = await loadModel(path);
    try {
      const before = await inspectModel(model);
      const eligible = before.weights.filter(
        (w) => w.storage.length === 0 && w.shape.reduce((a, b) => a * b, 1) > 2048,
      );
      for (const [name, pass] of passes) {
        const out = join(work, `${index++}-${name}.mlpackage`);
        // iOS15 programs cannot hold compressed weights: refused unless the target is raised.
        const old = model.spec.Type.case === "mlProgram" && model.spec.specificationVersion < 7;
        if (old) await assert.rejects(pass(model), /needs iOS16 or newer/);
        const compressed = (await pass(model, old ? "iOS16" : undefined)).model;
        await compressed.save(out);
        await compressed.close();
        const reloaded = await loadModel(out);
        const summary = await inspectModel(reloaded);
        if (eligible.length > 0) {
          assert.ok(
            summary.totals.compressed > before.totals.compressed,
            `${name}: something was compressed`,
          );
          assert.ok(summary.totals.storedBytes < before.totals.storedBytes, `${name}: smaller`);
        }
        const dense = await decompressWeights(reloaded);
        const after = await inspectModel(dense);
        assert.equal(after.totals.compressed, 0);
        assert.deepEqual(
          after.weights.map((w) => w.shape.reduce((a, b) => a * b, 1)).sort(),
          summary.weights.map((w) => w.shape.reduce((a, b) => a * b, 1)).sort(),
        );
        await dense.close();
        await reloaded.close();
        await rm(out, { recursive: true, force: true });
      }
    } finally {
      await model.close();
    }
  });
}

test("real models are present", { skip: !SHARED }, () => assert.ok(models.length >= 5));
