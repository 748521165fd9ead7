/**
 * Mutations of a MIL weight file (`weight.bin`) that know its layout: the 64-byte file header
 * (blob count, storage version) and each blob's 64-byte metadata record (sentinel, dtype code,
 * size, data offset, padding bits), found by their sentinel at 64-byte boundaries.
 */
import { HEADER_BYTES, METADATA_BYTES, METADATA_SENTINEL } from "../../src/format/blob/layout.js";
import type { Mutated } from "./mutate-bytes.js";
import type { Rng } from "./random.js";

function metadataOffsets(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offsets: number[] = [];
  for (let at = HEADER_BYTES; at + METADATA_BYTES <= bytes.length; at += 64) {
    if (view.getUint32(at, true) === METADATA_SENTINEL) offsets.push(at);
  }
  return offsets;
}

const U64_EDGES = [
  0n,
  1n,
  63n,
  64n,
  2n ** 32n,
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 64n - 2n,
  2n ** 64n - 1n,
];

export function mutateWeightFile(bytes: Uint8Array, rng: Rng): Mutated {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  const blobs = metadataOffsets(out);
  const steps: string[] = [];
  for (let i = rng.int(1, 2); i > 0; i--) {
    if (blobs.length === 0 || rng.chance(0.15)) {
      if (rng.chance(0.5)) {
        const count = rng.pick([0, 1, 2 ** 31, 2 ** 32 - 1, blobs.length + 1]);
        view.setUint32(0, count, true);
        steps.push(`header blob count = ${count}`);
      } else {
        const version = rng.pick([0, 1, 3, 2 ** 32 - 1]);
        view.setUint32(4, version, true);
        steps.push(`header storage version = ${version}`);
      }
      continue;
    }
    const at = rng.pick(blobs);
    const size = view.getBigUint64(at + 8, true);
    const dataOffset = view.getBigUint64(at + 16, true);
    const field = rng.pick(["sentinel", "dtype", "size", "offset", "padding", "cut"]);
    switch (field) {
      case "sentinel":
        view.setUint32(at, rng.pick([0, 0xdeadbeee, 0xefbeadde]), true);
        steps.push(`blob ${at}: sentinel broken`);
        break;
      case "dtype": {
        const code = rng.pick([0, 1, 2, 3, 4, 8, 9, 11, 13, 14, 17, 18, 255, 2 ** 32 - 1]);
        view.setUint32(at + 4, code, true);
        steps.push(`blob ${at}: dtype code = ${code}`);
        break;
      }
      case "size": {
        const value = rng.pick([...U64_EDGES, size + 1n, size > 0n ? size - 1n : 0n, size * 2n]);
        view.setBigUint64(at + 8, value, true);
        steps.push(`blob ${at}: sizeInBytes = ${value} (was ${size})`);
        break;
      }
      case "offset": {
        const value = rng.pick([
          ...U64_EDGES,
          dataOffset + 1n,
          dataOffset - 64n,
          BigInt(at),
          BigInt(out.length),
          BigInt(out.length) - size + 1n,
        ]);
        view.setBigUint64(at + 16, value < 0n ? 0n : value, true);
        steps.push(`blob ${at}: offset = ${value < 0n ? 0n : value} (was ${dataOffset})`);
        break;
      }
      case "padding": {
        const value = rng.pick([1n, 4n, 7n, 8n, 255n, 2n ** 64n - 1n]);
        view.setBigUint64(at + 24, value, true);
        steps.push(`blob ${at}: paddingBits = ${value}`);
        break;
      }
      default: {
        const end = rng.pick([at + 8, at + METADATA_BYTES, Number(dataOffset) + 1]);
        steps.push(`file cut to ${end} bytes inside blob ${at}`);
        return { bytes: out.slice(0, Math.min(end, out.length)), description: steps.join("; ") };
      }
    }
  }
  return { bytes: out, description: steps.join("; ") };
}
