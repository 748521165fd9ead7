/** copyMessage: a deep copy of a model's protobuf, encoding as the original does, sharing nothing. */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { copyMessage } from "../../src/format/copy-message.js";
import { encodeModel, loadModel } from "../../src/format/model.js";
import { modelTree } from "../../src/format/model-tree.js";
import { GOLDEN } from "../support/paths.js";

async function packagesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.name.endsWith(".mlpackage")) found.push(path);
    else if (entry.isDirectory()) found.push(...(await packagesUnder(path)));
  }
  return found;
}

test("a copied model encodes as the original, and changing it leaves the original as it was", async () => {
  const paths = (await packagesUnder(GOLDEN)).filter((p) => !p.includes("_negative_")).slice(0, 12);
  assert.ok(paths.length > 0);
  for (const path of paths) {
    const model = await loadModel(path);
    const before = encodeModel(model.spec);
    const copy = copyMessage(model.spec);
    assert.deepEqual(encodeModel(copy), before, path);
    for (const { model: nested } of modelTree(copy)) {
      if (nested.Type.case !== "mlProgram") continue;
      for (const fn of Object.values(nested.Type.value.functions)) {
        for (const block of Object.values(fn.blockSpecializations)) {
          for (const op of block.operations) {
            op.type = "changed";
            for (const value of Object.values(op.attributes)) {
              if (value.value.case === "blobFileValue") value.value.value.offset += 64n;
            }
          }
          block.operations.reverse();
        }
      }
    }
    copy.specificationVersion += 1;
    assert.deepEqual(encodeModel(model.spec), before, path);
    await model.close();
  }
});
