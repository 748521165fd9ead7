import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, test } from "node:test";
import { CoreMLOptimizeError, FormatError } from "../../src/errors.js";
import { encodeModel, loadModel } from "../../src/format/model.js";
import { GOLDEN, SHARED } from "../support/paths.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-model-test-"));
after(() => rm(work, { recursive: true, force: true }));

async function modelsUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.name.endsWith(".mlpackage") || entry.name.endsWith(".mlmodel")) found.push(path);
    else if (entry.isDirectory()) found.push(...(await modelsUnder(path)));
  }
  return found;
}

async function filesOf(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const walk = async (d: string) => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else files.set(relative(dir, path), await readFile(path));
    }
  };
  if ((await stat(dir)).isDirectory()) await walk(dir);
  else files.set("", await readFile(dir));
  return files;
}

const candidates = [
  ...(await modelsUnder(GOLDEN)),
  ...(SHARED ? await modelsUnder(join(SHARED, "models")) : []),
  ...(SHARED ? await modelsUnder(join(SHARED, "runtime")) : []),
].filter((p) => !p.includes("_negative_"));

test(`${candidates.length} models load and save back byte for byte`, async () => {
  assert.ok(candidates.length >= 10);
  let index = 0;
  for (const path of candidates) {
    const model = await loadModel(path);
    const out = join(
      work,
      `copy${index++}${path.endsWith(".mlmodel") ? ".mlmodel" : ".mlpackage"}`,
    );
    try {
      assert.deepEqual(encodeModel(model.spec), encodeModel((await loadModel(path)).spec));
      await model.save(out);
    } finally {
      await model.close();
    }
    const [before, afterSave] = [await filesOf(path), await filesOf(out)];
    assert.deepEqual([...afterSave.keys()].sort(), [...before.keys()].sort(), path);
    for (const [name, bytes] of before) {
      if (name.endsWith("Manifest.json")) {
        assert.deepEqual(
          JSON.parse(afterSave.get(name)!.toString()),
          JSON.parse(bytes.toString()),
          `${path} ${name}`,
        );
      } else {
        assert.ok(bytes.equals(afterSave.get(name)!), `${path}: ${name} differs`);
      }
    }
    await rm(out, { recursive: true, force: true });
  }
});

test("the LFS-pointer package fails with a clear message", { skip: !SHARED }, async () => {
  const path = join(SHARED!, "models/_negative_whisper_base_encoder_lfs_pointer/encoder.mlpackage");
  const model = await loadModel(path);
  await assert.rejects(model.blobFile("@model_path/weights/weight.bin"), /Git LFS pointer/);
  await model.close();
});

const base = join(GOLDEN, "bases/zoo_fp16_ios18.mlpackage");

test("a corrupt model protobuf names the file", async () => {
  const copy = join(work, "corrupt.mlpackage");
  await cp(base, copy, { recursive: true });
  await writeFile(
    join(copy, "Data/com.apple.CoreML/model.mlmodel"),
    Uint8Array.of(0x12, 0x40, 0x0a, 0x02),
  );
  await assert.rejects(
    loadModel(copy),
    (e: unknown) => e instanceof FormatError && /model\.mlmodel/.test(e.message),
  );
});

test("a missing manifest or manifest item is reported", async () => {
  const copy = join(work, "missing.mlpackage");
  await cp(base, copy, { recursive: true });
  await rm(join(copy, "Data/com.apple.CoreML/model.mlmodel"));
  await assert.rejects(
    loadModel(copy),
    (e: unknown) => e instanceof FormatError && /model\.mlmodel/.test(e.message),
  );
  await rm(join(copy, "Manifest.json"));
  await assert.rejects(
    loadModel(copy),
    (e: unknown) => e instanceof FormatError && /Manifest\.json/.test(e.message),
  );
  await assert.rejects(loadModel(join(work, "nothing-here.mlpackage")), FormatError);
});

test("saving over the input model is refused and leaves it untouched", async () => {
  const copy = join(work, "input.mlpackage");
  await cp(base, copy, { recursive: true });
  const before = await filesOf(copy);
  const model = await loadModel(copy);
  await assert.rejects(model.save(copy), CoreMLOptimizeError);
  await model.close();
  assert.deepEqual(await filesOf(copy), before);
});
