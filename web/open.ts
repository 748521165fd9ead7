/**
 * What the user picked or dropped, as one model's files: the items of one `.mlpackage` (by
 * path inside it), or one `.mlmodel` file. A folder holding exactly one model will do too.
 */
import type { FileList } from "./protocol.js";

export interface PickedModel {
  /** The model's name, without .mlpackage or .mlmodel. */
  name: string;
  kind: "mlpackage" | "mlmodel";
  files: FileList;
}

type Entry = [path: string, file: File];

/** Files of `<input type=file>`, a folder's (webkitdirectory) or a single file. */
export function fromInput(files: ArrayLike<File>): Promise<PickedModel> {
  return pickModel(
    Array.from(files, (file): Entry => [file.webkitRelativePath || file.name, file]),
  );
}

/** What was dropped: files, or folders read through their entries. */
export async function fromDrop(transfer: DataTransfer): Promise<PickedModel> {
  const entries: Entry[] = [];
  const roots = Array.from(transfer.items, (item) => item.webkitGetAsEntry()).filter(
    (entry): entry is FileSystemEntry => entry !== null,
  );
  for (const root of roots) await collect(root, entries);
  return pickModel(entries);
}

async function collect(entry: FileSystemEntry, into: Entry[]): Promise<void> {
  const path = entry.fullPath.replace(/^\//, "");
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) =>
      (entry as FileSystemFileEntry).file(resolve, reject),
    );
    into.push([path, file]);
    return;
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  // readEntries hands a folder's entries over in batches, until an empty one.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
      reader.readEntries(resolve, reject),
    );
    if (batch.length === 0) break;
    for (const child of batch) await collect(child, into);
  }
}

const baseName = (path: string) => path.split("/").filter(Boolean).pop() ?? "";

async function pickModel(entries: Entry[]): Promise<PickedModel> {
  const roots = entries
    .map(([path]) => path)
    .filter((path) => path === "Manifest.json" || path.endsWith("/Manifest.json"))
    .map((path) => path.slice(0, -"Manifest.json".length));
  const inPackage = (path: string) => roots.some((root) => path.startsWith(root));
  const models = entries.filter(([path]) => path.endsWith(".mlmodel") && !inPackage(path));
  const found = [...roots.map((root) => root || "(the folder)"), ...models.map(([p]) => p)];
  if (found.length !== 1) {
    throw new Error(
      found.length === 0
        ? "no Core ML model there: choose an .mlpackage folder (with its Manifest.json) or an .mlmodel file"
        : `${found.length} models there (${found.join(", ")}): open one at a time`,
    );
  }
  if (models.length === 1) {
    const [path, file] = models[0];
    const name = baseName(path).replace(/\.mlmodel$/, "");
    return { name, kind: "mlmodel", files: [[`${name}.mlmodel`, await bytesOf(file)]] };
  }
  const root = roots[0];
  const files: FileList = [];
  for (const [path, file] of entries) {
    if (path.startsWith(root)) files.push([path.slice(root.length), await bytesOf(file)]);
  }
  const name = baseName(root).replace(/\.mlpackage$/, "") || "model";
  return { name, kind: "mlpackage", files };
}

async function bytesOf(file: File): Promise<Uint8Array> {
  return new Uint8Array(await file.arrayBuffer());
}
