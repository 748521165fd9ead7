/**
 * Mutations of an `.mlpackage`'s `Manifest.json`: keys removed or of the wrong type, item paths
 * escaping the package (`..`, absolute, special files), the root naming the wrong item, deep
 * nesting, and broken JSON text.
 */
import type { Mutated } from "./mutate-bytes.js";
import type { Rng } from "./random.js";

type Json = Record<string, unknown>;

const WRONG_VALUES: unknown[] = [null, 0, -1, true, "", [], {}, ["a"], { path: 1 }, 1e308];

const ITEM_PATHS = [
  "",
  ".",
  "..",
  "com.apple.CoreML/../../Manifest.json",
  "../Manifest.json",
  "../../../../../../etc/passwd",
  "/etc/passwd",
  "/dev/zero",
  "/dev/urandom",
  "/proc/self/mem",
  "com.apple.CoreML",
  "com.apple.CoreML/weights/weight.bin",
  "com.apple.CoreML/missing.mlmodel",
  "com.apple.CoreML//model.mlmodel",
  "com.apple.CoreML/./model.mlmodel",
  "com.apple.CoreML/model.mlmodel\u0000.txt",
];

/** `{"k":{"k":...}}` nested `depth` times, built as text (too deep to stringify). */
function deeplyNested(depth: number, array: boolean): string {
  return array
    ? `${"[".repeat(depth)}1${"]".repeat(depth)}`
    : `${'{"k":'.repeat(depth)}1${"}".repeat(depth)}`;
}

export function mutateManifest(text: string, rng: Rng): Mutated {
  const manifest = JSON.parse(text) as Json;
  const items = manifest.itemInfoEntries as Record<string, Json>;
  const ids = Object.keys(items);
  const item = items[rng.pick(ids)];
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 4));
  const change = rng.pick([
    "remove key",
    "wrong type",
    "item path",
    "item path",
    "root id",
    "item field",
    "deep",
    "text",
    "many items",
  ]);
  switch (change) {
    case "remove key": {
      const key = rng.pick(["itemInfoEntries", "rootModelIdentifier", "fileFormatVersion"]);
      delete manifest[key];
      return { bytes: encode(manifest), description: `Manifest.json: removed ${key}` };
    }
    case "wrong type": {
      const key = rng.pick(["itemInfoEntries", "rootModelIdentifier", "fileFormatVersion"]);
      manifest[key] = structuredClone(rng.pick(WRONG_VALUES));
      return {
        bytes: encode(manifest),
        description: `Manifest.json: ${key} = ${JSON.stringify(manifest[key])}`,
      };
    }
    case "item path": {
      const path = rng.pick(ITEM_PATHS);
      const root = items[manifest.rootModelIdentifier as string];
      const target = rng.chance(0.7) ? root : item;
      target.path = path;
      return {
        bytes: encode(manifest),
        description: `Manifest.json: item ${target.name} path = ${JSON.stringify(path)}`,
      };
    }
    case "root id": {
      const other = ids.find((id) => id !== manifest.rootModelIdentifier);
      manifest.rootModelIdentifier = rng.pick(["", "no-such-id", ...(other ? [other] : [])]);
      return {
        bytes: encode(manifest),
        description: `Manifest.json: rootModelIdentifier = ${JSON.stringify(manifest.rootModelIdentifier)}`,
      };
    }
    case "item field": {
      const key = rng.pick(["path", "name", "author", "description"]);
      if (rng.chance(0.5)) delete item[key];
      else item[key] = structuredClone(rng.pick(WRONG_VALUES));
      return {
        bytes: encode(manifest),
        description: `Manifest.json: item ${String(item.name)} ${key} = ${JSON.stringify(item[key])}`,
      };
    }
    case "deep": {
      const depth = rng.pick([100, 10_000, 100_000]);
      const array = rng.chance(0.5);
      const json = JSON.stringify(manifest);
      const bytes = new TextEncoder().encode(
        `${json.slice(0, -1)},"deep":${deeplyNested(depth, array)}}`,
      );
      return {
        bytes,
        description: `Manifest.json: a key nested ${depth} deep (${array ? "arrays" : "objects"})`,
      };
    }
    case "many items": {
      const count = rng.pick([1000, 100_000]);
      for (let i = 0; i < count; i++)
        items[`extra-${i}`] = { ...item, path: `com.apple.CoreML/extra-${i}` };
      return { bytes: encode(manifest), description: `Manifest.json: ${count} extra items` };
    }
    default: {
      const variants: [string, string][] = [
        ["empty", ""],
        ["null", "null"],
        ["array", "[]"],
        ["truncated", text.slice(0, rng.int(0, text.length - 1))],
        ["BOM", `\ufeff${text}`],
        ["trailing garbage", `${text}}}`],
        ["duplicate keys", text.replace("{", `{"rootModelIdentifier": 5,`)],
      ];
      const [name, body] = rng.pick(variants);
      return { bytes: new TextEncoder().encode(body), description: `Manifest.json: ${name}` };
    }
  }
}
