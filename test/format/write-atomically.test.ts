import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { writeAtomically } from "../../src/format/node-package.js";

test("a failed write leaves the old output and removes its temporary and the folders it made", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atomic-"));
  writeFileSync(join(dir, "out.bin"), "old");
  await assert.rejects(
    writeAtomically(join(dir, "out.bin"), async (temp) => {
      await writeFile(temp, "half");
      throw new Error("disk full");
    }),
    /disk full/,
  );
  assert.equal(readFileSync(join(dir, "out.bin"), "utf8"), "old");
  await assert.rejects(
    writeAtomically(join(dir, "new/deeper/out.bin"), async (temp) => {
      await writeFile(temp, "half");
      throw new Error("disk full");
    }),
  );
  assert.deepEqual(readdirSync(dir), ["out.bin"]);
});

test("a folder output is replaced whole, with nothing left beside it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atomic-"));
  mkdirSync(join(dir, "out/Data"), { recursive: true });
  writeFileSync(join(dir, "out/Data/stale"), "stale");
  await writeAtomically(join(dir, "out"), async (temp) => {
    mkdirSync(temp);
    writeFileSync(join(temp, "fresh"), "fresh");
  });
  assert.deepEqual(readdirSync(join(dir, "out")), ["fresh"]);
  assert.deepEqual(readdirSync(dir), ["out"]);
  assert.ok(!existsSync(join(dir, "out/Data")));
});
