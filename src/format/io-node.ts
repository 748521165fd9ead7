import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppendWriter, RandomAccessReader } from "./blob/io.js";
import type { ScratchStorage } from "./scratch.js";
import { releaseTemporary, removeOnExit } from "./temporaries.js";

export async function openFileReader(path: string): Promise<RandomAccessReader> {
  const handle = await fs.open(path, "r");
  const { size } = await handle.stat();
  return {
    size,
    async read(position, length) {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, position + done);
        if (bytesRead === 0)
          throw new RangeError(`${path}: unexpected end of file at ${position + done}`);
        done += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}

const STAGING_BYTES = 4 << 20;

/**
 * Appends to a new file: small writes are gathered in one reused staging buffer (no garbage
 * per write), large ones go straight to the file.
 */
export async function createFileWriter(path: string): Promise<AppendWriter> {
  const handle = await fs.open(path, "w");
  const staging = new Uint8Array(STAGING_BYTES);
  let staged = 0;
  let written = 0;
  const write = async (bytes: Uint8Array, length: number) => {
    const position = written;
    written += length;
    await handle.write(bytes, 0, length, position);
  };
  const flush = async () => {
    if (staged === 0) return;
    const length = staged;
    staged = 0;
    await write(staging, length);
  };
  return {
    get position() {
      return written + staged;
    },
    async append(bytes) {
      if (staged + bytes.length > STAGING_BYTES) await flush();
      if (bytes.length >= STAGING_BYTES) {
        await write(bytes, bytes.length);
      } else {
        // Copied: callers may reuse their buffers once append returns.
        staging.set(bytes, staged);
        staged += bytes.length;
      }
    },
    async writeAt(position, bytes) {
      await flush();
      await handle.write(bytes, 0, bytes.length, position);
    },
    async close() {
      try {
        await flush();
      } finally {
        await handle.close();
      }
    },
  };
}

/** Scratch weight files as temporary files in `dir` (default: the OS temp folder). */
export function tempFileScratch(dir: string = tmpdir()): ScratchStorage {
  return {
    async create() {
      const path = join(
        dir,
        `.coreml-optimize-${process.pid}-${randomBytes(4).toString("hex")}.bin`,
      );
      const undo = removeOnExit(path);
      return {
        writer: await createFileWriter(path),
        source: {
          path,
          temporary: true,
          open: () => openFileReader(path),
          discard: async () => {
            await fs.rm(path, { force: true });
            releaseTemporary(undo);
          },
        },
      };
    },
  };
}
