// Writes the neural-network fixtures built in test/support/nn-fixtures.ts to fixtures/nn/.
// Run after `npm run build`: node scripts/gen-nn-fixtures.mjs
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeModel } from "../dist/src/format/ml-model.js";
import { NN_FIXTURES } from "../dist/test/support/nn-fixtures.js";

const dir = "fixtures/nn";
mkdirSync(dir, { recursive: true });
for (const [file, build] of Object.entries(NN_FIXTURES)) {
  writeFileSync(join(dir, file), encodeModel(build()));
  console.log(join(dir, file));
}
