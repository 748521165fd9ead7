/**
 * The browser entry point must load without Node: walks the compiled import graph from
 * dist/src/browser.js (our modules and the packages they use) and fails on any Node built-in.
 */
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, resolve } from "node:path";
import test from "node:test";
import ts from "typescript";
import { REPO_ROOT } from "../support/paths.js";

const NODE_BUILTINS = new Set(builtinModules);
/** Export conditions a browser bundler resolves, in its order of preference. */
const CONDITIONS = ["browser", "import", "module", "default"];

type Exports = string | null | Exports[] | { [key: string]: Exports };

function pickCondition(target: Exports): string | undefined {
  if (target === null) return undefined;
  if (typeof target === "string") return target;
  if (Array.isArray(target)) {
    for (const entry of target) {
      const picked = pickCondition(entry);
      if (picked) return picked;
    }
    return undefined;
  }
  for (const condition of CONDITIONS) {
    if (condition in target) {
      const picked = pickCondition(target[condition]);
      if (picked) return picked;
    }
  }
  return undefined;
}

/** The file a bundler would load for a bare specifier such as `yaml` or `@bufbuild/protobuf/wire`. */
function resolvePackage(specifier: string, from: string): string {
  const parts = specifier.split("/");
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  const subpath = `.${specifier.slice(name.length)}`;
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const root = join(dir, "node_modules", name);
    if (existsSync(join(root, "package.json"))) {
      const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
        exports?: Exports;
        module?: string;
        main?: string;
      };
      let target: string | undefined;
      if (manifest.exports !== undefined) {
        const exports = manifest.exports;
        const bySubpath =
          typeof exports === "object" &&
          exports !== null &&
          !Array.isArray(exports) &&
          Object.keys(exports).some((key) => key.startsWith("."));
        target = pickCondition(bySubpath ? (exports as Record<string, Exports>)[subpath] : exports);
      } else {
        target = subpath === "." ? (manifest.module ?? manifest.main ?? "index.js") : subpath;
      }
      assert.ok(target, `${specifier} (imported by ${from}) has no browser entry for ${subpath}`);
      return resolve(root, target);
    }
    assert.notEqual(dirname(dir), dir, `${specifier} (imported by ${from}) is not installed`);
  }
}

/** The modules `file` imports; with `staticOnly`, not those it imports with `import()`. */
function specifiers(file: string, staticOnly: boolean): string[] {
  if (!staticOnly) {
    return ts
      .preProcessFile(readFileSync(file, "utf8"), true, true)
      .importedFiles.map((f) => f.fileName);
  }
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest);
  return source.statements.flatMap((statement) =>
    (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) &&
    statement.moduleSpecifier &&
    ts.isStringLiteral(statement.moduleSpecifier)
      ? [statement.moduleSpecifier.text]
      : [],
  );
}

/**
 * Every module reachable from `entry`, with the module that first imported it: what a page
 * may load, or with `staticOnly` what it loads before any `import()` runs.
 */
function importGraph(
  entry: string,
  staticOnly = false,
): { parents: Map<string, string | undefined>; node: string[] } {
  const parents = new Map<string, string | undefined>([[entry, undefined]]);
  const node: string[] = [];
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const specifier of specifiers(file, staticOnly)) {
      if (specifier.startsWith("node:") || NODE_BUILTINS.has(specifier.split("/")[0])) {
        node.push(`${specifier} imported by ${chain(parents, file)}`);
        continue;
      }
      const target =
        specifier.startsWith(".") || specifier.startsWith("/")
          ? resolve(dirname(file), specifier)
          : resolvePackage(specifier, file);
      if (!parents.has(target)) {
        parents.set(target, file);
        queue.push(target);
      }
    }
  }
  return { parents, node };
}

function chain(parents: Map<string, string | undefined>, file: string): string {
  const path: string[] = [];
  for (let at: string | undefined = file; at; at = parents.get(at)) {
    path.unshift(at.replace(`${REPO_ROOT}/`, ""));
  }
  return path.join(" <- ");
}

/** Uses of Node's `process` and `Buffer` globals in a module's code (comments aside). */
function nodeGlobals(file: string): string[] {
  const source = ts.createSourceFile(
    file,
    readFileSync(file, "utf8"),
    ts.ScriptTarget.Latest,
    true,
  );
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    const isProperty =
      node.parent !== undefined &&
      ts.isPropertyAccessExpression(node.parent) &&
      node.parent.name === node;
    if (
      ts.isIdentifier(node) &&
      !isProperty &&
      (node.text === "process" || node.text === "Buffer")
    ) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      found.push(`${node.text} at line ${line + 1}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const BROWSER_ENTRY = join(REPO_ROOT, "dist/src/browser.js");

test("nothing the browser entry point imports, directly or not, is a Node module", () => {
  const { parents, node } = importGraph(BROWSER_ENTRY);
  assert.deepEqual(node, []);
  const ours = [...parents.keys()].filter((f) => f.startsWith(join(REPO_ROOT, "dist/src")));
  // Nor do our modules lean on Node's globals.
  for (const file of ours) {
    assert.deepEqual(nodeGlobals(file), [], file);
  }
  // The walk really followed the passes and the protobuf runtime.
  assert.ok(ours.some((f) => f.endsWith("passes/palettize.js")));
  assert.ok([...parents.keys()].some((f) => f.includes("@bufbuild/protobuf")));
});

test("the browser entry loads no YAML parser, and the worker script no kernel, until asked", () => {
  const isYaml = (f: string) => f.includes("node_modules/yaml/");
  assert.ok(![...importGraph(BROWSER_ENTRY, true).parents.keys()].some(isYaml));
  assert.ok([...importGraph(BROWSER_ENTRY).parents.keys()].some(isYaml));

  const worker = join(REPO_ROOT, "dist/src/parallel/web-worker.js");
  const isKernel = (f: string) => f.includes("/dist/src/kernels/");
  assert.ok(![...importGraph(worker, true).parents.keys()].some(isKernel));
  // Each task's kernel is there to be imported when the task comes.
  const loadable = [...importGraph(worker).parents.keys()];
  for (const kernel of ["palettize/modes.js", "prune-task.js", "gemm-task.js"]) {
    assert.ok(
      loadable.some((f) => f.endsWith(`/kernels/${kernel}`)),
      kernel,
    );
  }
});

test("the checks catch Node imports and globals (the Node modules have them)", () => {
  const { node } = importGraph(join(REPO_ROOT, "dist/src/index.js"));
  assert.ok(node.some((n) => n.startsWith("node:fs")));
  assert.ok(nodeGlobals(join(REPO_ROOT, "dist/src/format/node-package.js")).length > 0);
});

test("package.json exports the browser entry point and its worker script", () => {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as {
    exports: Record<string, Record<string, string> | string>;
  };
  const browser = manifest.exports["./browser"] as Record<string, string>;
  assert.equal(resolve(REPO_ROOT, browser.default), BROWSER_ENTRY);
  assert.ok(existsSync(resolve(REPO_ROOT, browser.types)));
  // Bundlers that do not follow `new Worker(new URL(...))` take the worker as an entry point.
  const worker = manifest.exports["./web-worker"] as string;
  assert.equal(resolve(REPO_ROOT, worker), join(REPO_ROOT, "dist/src/parallel/web-worker.js"));
});
