/**
 * Reading files a user names (models, configs, inputs) on Node: only regular files are opened,
 * since a FIFO blocks forever and a device such as /dev/zero never ends.
 */
import * as fs from "node:fs/promises";
import { FormatError } from "../errors.js";

/**
 * The size of the regular file at `path`. Anything else (a FIFO, a device, a folder) is refused
 * before it is opened, since reading one may block forever or never end.
 */
export async function regularFileSize(
  path: string,
  { missing }: { missing: "undefined" | "error" },
): Promise<number | undefined> {
  const info = await fs.stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") {
      if (missing === "undefined") return undefined;
      throw new FormatError(path, "no such file");
    }
    throw new FormatError(path, error.message);
  });
  if (!info) return undefined;
  if (info.isDirectory() && missing === "undefined") return undefined;
  if (!info.isFile()) throw new FormatError(path, "not a regular file");
  return info.size;
}

/** The bytes of the regular file at `path`; anything else is refused before it is opened. */
export async function readRegularFile(path: string): Promise<Uint8Array> {
  await regularFileSize(path, { missing: "error" });
  const bytes = await fs.readFile(path).catch((error: Error) => {
    throw new FormatError(path, error.message);
  });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
