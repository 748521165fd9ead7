import type { AppendWriter, RandomAccessReader } from "./blob/io.js";

export function memoryReader(bytes: Uint8Array): RandomAccessReader {
  return {
    size: bytes.length,
    read(position, length) {
      if (position < 0 || position + length > bytes.length) {
        return Promise.reject(new RangeError(`read of ${length} bytes at ${position} past end`));
      }
      return Promise.resolve(bytes.subarray(position, position + length));
    },
    close: () => Promise.resolve(),
  };
}

/** Collects appended bytes in memory; `bytes()` returns everything written. */
export class MemoryWriter implements AppendWriter {
  private buffer = new Uint8Array(1 << 16);
  position = 0;

  append(bytes: Uint8Array): Promise<void> {
    this.reserve(this.position + bytes.length);
    this.buffer.set(bytes, this.position);
    this.position += bytes.length;
    return Promise.resolve();
  }

  writeAt(position: number, bytes: Uint8Array): Promise<void> {
    this.buffer.set(bytes, position);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.position);
  }

  private reserve(size: number) {
    if (size <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(size, this.buffer.length * 2));
    grown.set(this.buffer.subarray(0, this.position));
    this.buffer = grown;
  }
}
