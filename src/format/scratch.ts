/**
 * Where a rewritten model's new weight files live until it is saved: temporary files on Node
 * (weights may be larger than memory), memory in a browser.
 */
import type { AppendWriter } from "./blob/io.js";
import { memoryReader, MemoryWriter } from "./io-memory.js";
import type { WeightFileSource } from "./ml-model.js";

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
