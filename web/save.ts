/**
 * Saving the result: an `.mlpackage` as a zip of its folder, or written into a folder the user
 * picks where the browser has the File System Access API; an `.mlmodel` as itself.
 */
import { zipSync, type Zippable } from "fflate";
import type { FileList } from "./protocol.js";

/** Hands `bytes` to the browser as a download named `fileName`. */
export function download(fileName: string, bytes: Uint8Array | string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own reference by now; the URL only keeps the bytes alive.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A zip of `folder`/… holding the package's files, stored as they are (weights barely shrink). */
export function zipPackage(folder: string, files: FileList): Uint8Array {
  const tree: Zippable = {};
  for (const [path, bytes] of files) tree[`${folder}/${path}`] = [bytes, { level: 0 }];
  return zipSync(tree);
}

interface DirectoryHandle {
  name: string;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryHandle>;
  getFileHandle(
    name: string,
    options?: { create?: boolean },
  ): Promise<{
    createWritable(): Promise<{ write(data: BlobPart): Promise<void>; close(): Promise<void> }>;
  }>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
}

type DirectoryPicker = (options: { mode: "readwrite"; id?: string }) => Promise<DirectoryHandle>;

const picker = () => (globalThis as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;

/** Whether the browser can write into a folder the user picks. */
export const canSaveToFolder = () => typeof picker() === "function";

/**
 * Asks for a folder and writes the package into `folder` inside it (replacing one of that name,
 * after asking). Resolves to where it went, or undefined when the user called it off.
 */
export async function saveToFolder(folder: string, files: FileList): Promise<string | undefined> {
  let parent: DirectoryHandle;
  try {
    parent = await picker()!({ mode: "readwrite", id: "coreml-optimize" });
  } catch (error) {
    if ((error as Error).name === "AbortError") return undefined;
    throw error;
  }
  const exists = await parent.getDirectoryHandle(folder).then(
    () => true,
    () => false,
  );
  if (exists) {
    if (!confirm(`${parent.name}/${folder} exists. Replace it?`)) return undefined;
    await parent.removeEntry(folder, { recursive: true });
  }
  const root = await parent.getDirectoryHandle(folder, { create: true });
  for (const [path, bytes] of files) {
    const parts = path.split("/");
    let dir = root;
    for (const part of parts.slice(0, -1))
      dir = await dir.getDirectoryHandle(part, { create: true });
    const writable = await (
      await dir.getFileHandle(parts.at(-1)!, { create: true })
    ).createWritable();
    await writable.write(bytes as BlobPart);
    await writable.close();
  }
  return `${parent.name}/${folder}`;
}
