/**
 * `node verify-output.js model PATH` / `npy-dir PATH`: the fuzzer's check of what a successful
 * command wrote, run in its own process under the same limits. A model must load, inspect and
 * have every weight readable (the library's own inspection, weights included); a prediction
 * folder must hold outputs that parse. Prints why not and exits 1 otherwise.
 */
import { readFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { inspectModel } from "../../src/analysis/inspect.js";
import { getWeightsMetadata } from "../../src/analysis/weights-metadata.js";
import { loadModel } from "../../src/format/model.js";
import { readNpy } from "../../src/format/npy.js";

async function verifyModel(path: string): Promise<void> {
  const info = await stat(path);
  if (path.replace(/\/+$/, "").endsWith(".mlpackage") && !info.isDirectory()) {
    throw new Error("an .mlpackage path holds a file, not a package folder");
  }
  const model = await loadModel(path);
  try {
    await inspectModel(model);
    await getWeightsMetadata(model, { weightThreshold: 0 });
  } finally {
    await model.close();
  }
}

async function verifyPredictions(path: string): Promise<void> {
  const files = (await readdir(path)).filter((f) => f.endsWith(".npy") || f.endsWith(".txt"));
  if (files.length === 0) throw new Error("no output files were written");
  for (const file of files) {
    if (file.endsWith(".npy")) readNpy(await readFile(join(path, file)), file);
  }
}

const [kind, path] = process.argv.slice(2);
try {
  await (kind === "npy-dir" ? verifyPredictions(path) : verifyModel(path));
  process.stdout.write("ok\n");
} catch (error) {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  process.stdout.write(`${message.split("\n")[0]}\n`);
  process.exit(1);
}
