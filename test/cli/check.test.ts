import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { checkAgainst, renderComparison } from "../../src/cli/check.js";
import { loadModel } from "../../src/format/model.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { GOLDEN } from "../support/paths.js";

const compressed = join(GOLDEN, "cases/lq_int8_sym_perchannel__zoo_fp16_ios18.mlpackage");

test(
  "--check: a compressed model checked against its unsaved decompression is exact",
  { skip: !existsSync(compressed) },
  async () => {
    const model = await loadModel(compressed);
    const dense = await decompressWeights(model);
    try {
      const report = await checkAgainst(model, dense, 2, { reference: "int8", candidate: "dense" });
      assert.equal(report.samples, 2);
      for (const output of report.outputs) assert.equal(output.snrDb, Infinity);
      const table = renderComparison(report);
      assert.match(table, /dense against int8, 2 sample\(s\)/);
      for (const output of report.outputs) assert.match(table, new RegExp(output.name));
    } finally {
      await dense.close();
      await model.close();
    }
  },
);
