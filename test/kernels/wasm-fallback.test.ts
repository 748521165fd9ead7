/**
 * The WebAssembly SIMD kernels and their JavaScript fallbacks give identical results: the same
 * computations run here (WebAssembly) and in a Node process without WebAssembly
 * (`--no-expose-wasm`), where the kernels fall back.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { kernelResults } from "../support/kernel-results.js";

const SUPPORT = fileURLToPath(new URL("../support/kernel-results.js", import.meta.url));
const SCRIPT = `
import { pathToFileURL } from "node:url";
const { kernelResults } = await import(pathToFileURL(process.argv[1]).href);
process.stdout.write(JSON.stringify(kernelResults()));
`;

test("WebAssembly kernels and their JavaScript fallbacks agree bit for bit", () => {
  const withoutWasm = execFileSync(
    process.execPath,
    ["--no-expose-wasm", "--input-type=module", "-e", SCRIPT, SUPPORT],
    { encoding: "utf8", maxBuffer: 1 << 28 },
  );
  assert.equal(typeof WebAssembly, "object");
  assert.deepEqual(JSON.parse(withoutWasm), JSON.parse(JSON.stringify(kernelResults())));
});
