/** Models as byte arrays on Node: they agree with models read from and saved to paths. */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, test } from "node:test";
import { loadModelFromFiles, modelToFiles } from "../../src/format/files.js";
import { loadModel } from "../../src/format/model.js";
import { buildModel } from "../../src/program/builder.js";
import { FIXTURES } from "../support/paths.js";

const PACKAGE = join(FIXTURES, "golden/bases/lattice_fp16_ios18.mlpackage");
const work = await mkdtemp(join(tmpdir(), "coreml-optimize-files-test-"));
after(() => rm(work, { recursive: true, force: true }));

async function readTree(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(relative(dir, path), new Uint8Array(await readFile(path)));
  }
  return files;
}

test("a package's files, with an extra Xcode item, survive path -> files -> path", async () => {
  const withItem = join(work, "with-item.mlpackage");
  const original = await loadModel(PACKAGE);
  await original.save(withItem);
  // An item besides the model and weights (Xcode keeps e.g. metadata folders).
  const manifestPath = join(withItem, "Manifest.json");
  const manifest = JSON.parse(await readFile(manifestPath, "utf8")) as {
    itemInfoEntries: Record<string, object>;
  };
  manifest.itemInfoEntries["EXTRA"] = {
    author: "com.apple.CoreML",
    description: "notes",
    name: "notes",
    path: "com.apple.notes",
  };
  await writeFile(manifestPath, JSON.stringify(manifest));
  await mkdir(join(withItem, "Data/com.apple.notes/deep"), { recursive: true });
  await writeFile(join(withItem, "Data/com.apple.notes/deep/a.txt"), "kept");

  const onDisk = await readTree(withItem);
  const fromDisk = await modelToFiles(await loadModel(withItem));
  assert.deepEqual(new Set(fromDisk.keys()), new Set(onDisk.keys()));
  for (const [path, bytes] of onDisk) {
    if (path !== "Manifest.json") assert.deepEqual(fromDisk.get(path), bytes, path);
  }

  const fromFiles = await loadModelFromFiles(fromDisk);
  const saved = join(work, "from-files.mlpackage");
  await fromFiles.save(saved);
  const savedTree = await readTree(saved);
  assert.deepEqual(
    savedTree.get("Data/com.apple.notes/deep/a.txt"),
    onDisk.get("Data/com.apple.notes/deep/a.txt"),
  );
  assert.deepEqual((await loadModel(saved)).spec, original.spec);
});

test("the Node entry point also takes and gives files (records as well as maps)", async () => {
  const files = Object.fromEntries(await readTree(PACKAGE));
  const model = await loadModelFromFiles(files);
  assert.equal(model.format, "mlpackage");
  assert.deepEqual(model.spec, (await loadModel(PACKAGE)).spec);
});

test("a built model gets a new manifest with random upper-case UUID item names", async () => {
  const weight = new Uint16Array(64 * 32).fill(0x3c00);
  const model = await buildModel("iOS18", async (b) => {
    const x = b.input("x", "fp16", [1, 32]);
    const w = await b.constant("w", { dtype: "fp16", shape: [64, 32], data: weight });
    b.output(b.linear(x, w));
  });
  try {
    const files = await modelToFiles(model);
    const manifest = JSON.parse(new TextDecoder().decode(files.get("Manifest.json"))) as {
      itemInfoEntries: Record<string, { path: string }>;
      rootModelIdentifier: string;
    };
    const ids = Object.keys(manifest.itemInfoEntries);
    assert.equal(ids.length, 2);
    for (const id of ids)
      assert.match(id, /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    assert.ok(files.has(`Data/${manifest.itemInfoEntries[manifest.rootModelIdentifier].path}`));
    const reloaded = await loadModelFromFiles(files);
    assert.deepEqual(reloaded.spec, model.spec);
  } finally {
    await model.close();
  }
});
