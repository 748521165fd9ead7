/**
 * The bundler recipe of the README, run: esbuild bundles a page script that imports the
 * browser entry, with the pool's worker script as a second entry point (no import map, no code
 * splitting). The page bundle starts its workers through `new Worker(new URL("./web-worker.js",
 * import.meta.url))` next to itself, and the worker bundle holds the kernels on its own.
 * Run here with the `web-worker` package as the host's `Worker`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import WebWorker from "web-worker";
import { readTree } from "../support/files.js";
import { FIXTURES, REPO_ROOT } from "../support/paths.js";

type Files = Map<string, Uint8Array>;

const PACKAGE = join(FIXTURES, "golden/bases/zoo_fp16_ios18.mlpackage");

/** What the page script does: palettize on the pool, then inline, and hand back both. */
const PAGE = `
import {
  loadModelFromFiles, modelToFiles, palettizeWeights, parseOptimizationConfig, WebWorkerPool,
} from ${JSON.stringify(join(REPO_ROOT, "dist/src/browser.js"))};

export async function palettizeBothWays(files) {
  const config = parseOptimizationConfig({
    config_type: "OpPalettizerConfig",
    global_config: { nbits: 4, granularity: "per_grouped_channel", group_size: 4 },
  });
  const model = await loadModelFromFiles(files);
  const warnings = [];
  const pool = new WebWorkerPool(2, { warn: (message) => warnings.push(message) });
  try {
    const pooled = await palettizeWeights(model, config, { pool });
    const inline = await palettizeWeights(model, config, { workers: 0 });
    return [await modelToFiles(pooled.model), await modelToFiles(inline.model), warnings];
  } finally {
    await pool.close();
  }
}
`;

test("an esbuild bundle without splitting palettizes on its bundled worker", async () => {
  const dir = mkdtempSync(join(tmpdir(), "coreml-optimize-bundle-"));
  try {
    writeFileSync(join(dir, "page.js"), PAGE);
    await build({
      entryPoints: [join(dir, "page.js"), join(REPO_ROOT, "dist/src/parallel/web-worker.js")],
      bundle: true,
      format: "esm",
      outdir: join(dir, "out"),
      entryNames: "[name]",
      logLevel: "silent",
    });
    assert.deepEqual(readdirSync(join(dir, "out")).sort(), ["page.js", "web-worker.js"]);
    const page = readFileSync(join(dir, "out/page.js"), "utf8");
    const worker = readFileSync(join(dir, "out/web-worker.js"), "utf8");
    // Self-contained: nothing left to resolve at run time.
    for (const code of [page, worker]) assert.doesNotMatch(code, /^\s*import\s.*from\s/m);
    // The worker carries the kernels, not the library around them.
    assert.ok(worker.length < page.length / 3, `worker ${worker.length} B, page ${page.length} B`);

    const started: string[] = [];
    (globalThis as { Worker?: unknown }).Worker = class extends WebWorker {
      constructor(url: URL, options: { type: "module" }) {
        super(url, options);
        started.push(String(url));
      }
    };
    const { palettizeBothWays } = (await import(pathToFileURL(join(dir, "out/page.js")).href)) as {
      palettizeBothWays(files: Map<string, Uint8Array>): Promise<[Files, Files, string[]]>;
    };
    const [pooled, inline, warnings] = await palettizeBothWays(readTree(PACKAGE));
    assert.ok(started.length > 0, "no worker started");
    assert.deepEqual(warnings, [], "the workers ran the jobs");
    for (const url of started)
      assert.equal(url, pathToFileURL(join(dir, "out/web-worker.js")).href);
    assert.deepEqual([...pooled.keys()].sort(), [...inline.keys()].sort());
    for (const [name, bytes] of pooled) assert.deepEqual(bytes, inline.get(name), name);
  } finally {
    delete (globalThis as { Worker?: unknown }).Worker;
    rmSync(dir, { recursive: true, force: true });
  }
});
