import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AppendWriter, RandomAccessReader } from "./blob/io.js";
import type { ScratchStorage } from "./scratch.js";

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

const FLUSH_BYTES = 4 << 20;

/** Appends to a new file, batching small writes into large ones. */
export async function createFileWriter(path: string): Promise<AppendWriter> {
  const handle = await fs.open(path, "w");
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let flushed = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    const chunks = pending;
    pending = [];
    pendingBytes = 0;
    for (const chunk of chunks) {
      await handle.write(chunk, 0, chunk.length, flushed);
      flushed += chunk.length;
    }
  };
  return {
    get position() {
      return flushed + pendingBytes;
    },
    async append(bytes) {
      // Copy: callers may reuse their buffers once append returns.
      pending.push(bytes.length < FLUSH_BYTES ? new Uint8Array(bytes) : bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= FLUSH_BYTES || bytes.length >= FLUSH_BYTES) await flush();
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
      return {
        writer: await createFileWriter(path),
        source: {
          path,
          temporary: true,
          open: () => openFileReader(path),
          discard: () => fs.rm(path, { force: true }),
        },
      };
    },
  };
}
