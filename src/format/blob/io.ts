/**
 * Byte sources and sinks the blob storage works on, so the format code runs the same over
 * files (Node) and in-memory buffers (browser, tests).
 */
export interface RandomAccessReader {
  readonly size: number;
  /** Reads exactly `length` bytes at `position`; fails if they are not all there. */
  read(position: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface AppendWriter {
  /** Bytes written so far; the position of the next append. */
  readonly position: number;
  append(bytes: Uint8Array): Promise<void>;
  /** Overwrites bytes already written (used for headers completed at the end). */
  writeAt(position: number, bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Where the bytes of one weight file come from. */
export interface WeightFileSource {
  open(): Promise<RandomAccessReader>;
  /** The file on disk, when there is one (lets `save` copy or move it instead of streaming). */
  path?: string;
  /** Scratch data this process created, which saving may move into the package. */
  temporary?: boolean;
  /** Releases temporary data that was not saved. */
  discard?(): Promise<void>;
}
