/**
 * Where a rewritten model's new weight files live until it is saved: temporary files on Node
 * (weights may be larger than memory), memory in a browser.
 */
import type { AppendWriter, WeightFileSource } from "./blob/io.js";
import { memoryReader, MemoryWriter } from "./io-memory.js";
import { UnsupportedError } from "../errors.js";

export interface ScratchFile {
  writer: AppendWriter;
  /** Reads the file back once the writer is closed. */
  source: WeightFileSource;
}

export interface ScratchStorage {
  create(): Promise<ScratchFile>;
}

/** Scratch files held in memory. */
export const memoryScratch: ScratchStorage = {
  create() {
    const writer = new MemoryWriter();
    const source: WeightFileSource = {
      temporary: true,
      open: () => Promise.resolve(memoryReader(writer.bytes())),
    };
    return Promise.resolve({ writer, source });
  },
};

/** Scratch storage in the folder `dir` when given (file systems only), else in a default place. */
export type ScratchFactory = (dir?: string) => ScratchStorage;

let scratchFactory: ScratchFactory = (dir) => {
  if (dir !== undefined) {
    throw new UnsupportedError(`temporary folder ${dir}: file-system scratch needs Node`);
  }
  return memoryScratch;
};

/** Where new weight files go: memory, unless the host provides files (format/model.ts on Node). */
export function scratchStorage(dir?: string): ScratchStorage {
  return scratchFactory(dir);
}

export function useScratch(factory: ScratchFactory): void {
  scratchFactory = factory;
}
