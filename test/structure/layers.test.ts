/**
 * Every import points down: walks the compiled modules of dist/src (type-only imports are gone
 * by then, as at run time) and fails on an import from a lower layer to a higher one, or on any
 * cycle between modules. The layer order is the one the README's Design section draws.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import test from "node:test";
import ts from "typescript";
import { REPO_ROOT } from "../support/paths.js";

const SRC = join(REPO_ROOT, "dist", "src");

/** Layers from the bottom up; a module may import its own layer and those before it. */
const LAYERS: readonly (readonly string[])[] = [
  ["errors.ts", "progress.ts"],
  ["kernels"],
  ["parallel"],
  ["format"],
  ["program", "neural"],
  ["config"],
  ["passes"],
  ["runtime"],
  ["calibrate"],
  ["analysis"],
  ["api.ts", "index.ts", "browser.ts", "cli"],
];

/** The layer of a module, by its first path segment under src/. */
function rankOf(module: string): number {
  const top = module.split("/")[0].replace(/\.js$/, ".ts");
  const rank = LAYERS.findIndex((names) => names.includes(top));
  assert.notEqual(rank, -1, `src/${module} is in no layer: add its folder to LAYERS`);
  return rank;
}

function modulesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return modulesUnder(path);
    return name.endsWith(".js") ? [relative(SRC, path)] : [];
  });
}

/** Our modules that `module` imports, statically or with `import()`. */
function importsOf(module: string): string[] {
  const file = join(SRC, module);
  return ts
    .preProcessFile(readFileSync(file, "utf8"), true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => relative(SRC, resolve(dirname(file), specifier)));
}

const modules = modulesUnder(SRC).filter((m) => !m.startsWith("format/gen/"));
const graph = new Map(modules.map((m) => [m, importsOf(m)]));

test("no module imports from a layer above its own", () => {
  const upward = modules.flatMap((from) =>
    (graph.get(from) ?? [])
      .filter((to) => !to.startsWith("format/gen/") && rankOf(to) > rankOf(from))
      .map((to) => `src/${from} imports src/${to}`),
  );
  assert.deepEqual(upward, []);
});

test("no import cycle between modules", () => {
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (module: string, path: string[]) => {
    if (state.get(module) === "done") return;
    if (state.get(module) === "open") {
      cycles.push([...path.slice(path.indexOf(module)), module].join(" -> "));
      return;
    }
    state.set(module, "open");
    for (const next of graph.get(module) ?? []) visit(next, [...path, module]);
    state.set(module, "done");
  };
  for (const module of modules) visit(module, []);
  assert.deepEqual(cycles, []);
});
