/**
 * Without WebAssembly (`node --no-expose-wasm`) the interpreter runs its JavaScript kernels and
 * gives the same outputs as the fast kernels, within float rounding.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runtimeResults } from "../support/runtime-results.js";

const SUPPORT = fileURLToPath(new URL("../support/runtime-results.js", import.meta.url));
const SCRIPT = `
import { pathToFileURL } from "node:url";
const { runtimeResults } = await import(pathToFileURL(process.argv[1]).href);
process.stdout.write(JSON.stringify(await runtimeResults()));
`;

test("without WebAssembly the interpreter falls back to its JavaScript kernels", async () => {
  const withoutWasm = JSON.parse(
    execFileSync(
      process.execPath,
      ["--no-expose-wasm", "--input-type=module", "-e", SCRIPT, SUPPORT],
      { encoding: "utf8" },
    ),
  ) as Awaited<ReturnType<typeof runtimeResults>>;
  const withWasm = await runtimeResults();
  assert.equal(withWasm.fast, true);
  assert.equal(withoutWasm.fast, false);
  assert.equal(withoutWasm.outputs.length, withWasm.outputs.length);
  withWasm.outputs.forEach((values, o) => {
    values.forEach((v, i) => {
      const want = withoutWasm.outputs[o][i];
      assert.ok(
        Math.abs(v - want) <= 1e-5 * Math.max(1, Math.abs(want)),
        `output ${o}[${i}]: ${v} vs ${want}`,
      );
    });
  });
});
