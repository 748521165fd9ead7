/**
 * `Manifest.json` of an `.mlpackage`: the package's items (model spec, weights, Xcode overlays
 * such as Metadata.json) by identifier, and which item is the root model.
 */
import { FormatError } from "../errors.js";

export interface ManifestItem {
  author: string;
  description: string;
  name: string;
  /** Path relative to the package's `Data/` folder. */
  path: string;
  [extra: string]: unknown;
}

export interface Manifest {
  fileFormatVersion: string;
  itemInfoEntries: Record<string, ManifestItem>;
  rootModelIdentifier: string;
  [extra: string]: unknown;
}

const MODEL_AUTHOR = "com.apple.CoreML";

/** Far more items than a package holds (a model, its weights, a few Xcode overlays). */
const MAX_ITEMS = 1000;
/** Deeper JSON than any manifest needs; writing it back would overflow the stack. */
const MAX_DEPTH = 64;

/** The nesting depth of a parsed JSON value, counted without recursion. */
function jsonDepth(root: unknown): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[root, 1]];
  while (pending.length > 0) {
    const [value, depth] = pending.pop()!;
    if (typeof value !== "object" || value === null) continue;
    deepest = Math.max(deepest, depth);
    if (deepest > MAX_DEPTH) break;
    for (const child of Object.values(value)) pending.push([child, depth + 1]);
  }
  return deepest;
}

export function parseManifest(text: string, file: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    // V8 quotes the text around the fault, newlines included: keep one line.
    const reason = (error as Error).message.replace(/\s+/g, " ");
    throw new FormatError(file, `not valid JSON (${reason})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new FormatError(file, "not a JSON object");
  }
  if (jsonDepth(json) > MAX_DEPTH) {
    throw new FormatError(file, `nested more than ${MAX_DEPTH} levels deep`);
  }
  const manifest = json as Partial<Manifest>;
  if (typeof manifest.itemInfoEntries !== "object" || manifest.itemInfoEntries === null) {
    throw new FormatError(file, "missing itemInfoEntries");
  }
  if (typeof manifest.rootModelIdentifier !== "string") {
    throw new FormatError(file, "missing rootModelIdentifier");
  }
  const items = Object.entries(manifest.itemInfoEntries);
  if (items.length > MAX_ITEMS) {
    throw new FormatError(file, `${items.length} items: not a model package's manifest`);
  }
  for (const [id, item] of items) {
    if (typeof item?.path !== "string" || item.path.split("/").includes("..")) {
      throw new FormatError(file, `item ${id} has no valid path`);
    }
  }
  if (!manifest.itemInfoEntries[manifest.rootModelIdentifier]) {
    throw new FormatError(
      file,
      `rootModelIdentifier ${manifest.rootModelIdentifier} names no item in itemInfoEntries`,
    );
  }
  return manifest as Manifest;
}

export function rootModelItem(manifest: Manifest): ManifestItem {
  return manifest.itemInfoEntries[manifest.rootModelIdentifier];
}

/**
 * A random (version 4) UUID in capitals, as Xcode names items. Browsers offer `randomUUID` only
 * to secure pages, so it is built from random bytes.
 */
function newItemIdentifier(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)]
    .join("-")
    .toUpperCase();
}

/** The manifest coremltools writes for a new package: the model spec and its weights folder. */
export function newManifest(): Manifest {
  const modelId = newItemIdentifier();
  return {
    fileFormatVersion: "1.0.0",
    itemInfoEntries: {
      [modelId]: {
        author: MODEL_AUTHOR,
        description: "CoreML Model Specification",
        name: "model.mlmodel",
        path: "com.apple.CoreML/model.mlmodel",
      },
      [newItemIdentifier()]: {
        author: MODEL_AUTHOR,
        description: "CoreML Model Weights",
        name: "weights",
        path: "com.apple.CoreML/weights",
      },
    },
    rootModelIdentifier: modelId,
  };
}

export function formatManifest(manifest: Manifest): string {
  return JSON.stringify(manifest, null, 4) + "\n";
}
