/** Format-blind mutations of a file's bytes: flips, overwritten runs, truncation, growth. */
import type { Rng } from "./random.js";

export interface Mutated {
  bytes: Uint8Array;
  description: string;
}

type ByteMutation = (bytes: Uint8Array, rng: Rng) => Mutated;

const flipBytes: ByteMutation = (bytes, rng) => {
  const out = bytes.slice();
  const count = rng.int(1, 8);
  const at: number[] = [];
  for (let i = 0; i < count && out.length > 0; i++) {
    const position = rng.int(0, out.length - 1);
    out[position] ^= 1 << rng.int(0, 7);
    at.push(position);
  }
  return { bytes: out, description: `flipped a bit at ${at.join(", ")}` };
};

const overwriteRun: ByteMutation = (bytes, rng) => {
  const out = bytes.slice();
  if (out.length === 0) return { bytes: out, description: "empty file left empty" };
  const start = rng.int(0, out.length - 1);
  const length = Math.min(rng.int(1, 16), out.length - start);
  const fill = rng.pick(["random", "0x00", "0xff"]);
  const run =
    fill === "random" ? rng.bytes(length) : new Uint8Array(length).fill(fill === "0x00" ? 0 : 0xff);
  out.set(run, start);
  return { bytes: out, description: `overwrote ${length} bytes at ${start} with ${fill}` };
};

const truncate: ByteMutation = (bytes, rng) => {
  const length = rng.chance(0.1) ? 0 : rng.int(0, Math.max(0, bytes.length - 1));
  return {
    bytes: bytes.slice(0, length),
    description: `truncated to ${length} of ${bytes.length} bytes`,
  };
};

const extend: ByteMutation = (bytes, rng) => {
  const extra = rng.pick([1, 7, 64, 4096, rng.int(1, 100_000)]);
  const out = new Uint8Array(bytes.length + extra);
  out.set(bytes);
  out.set(rng.bytes(extra), bytes.length);
  return { bytes: out, description: `extended by ${extra} random bytes` };
};

const insertRun: ByteMutation = (bytes, rng) => {
  const at = rng.int(0, bytes.length);
  const run = rng.bytes(rng.int(1, 32));
  const out = new Uint8Array(bytes.length + run.length);
  out.set(bytes.subarray(0, at));
  out.set(run, at);
  out.set(bytes.subarray(at), at + run.length);
  return { bytes: out, description: `inserted ${run.length} random bytes at ${at}` };
};

const deleteRun: ByteMutation = (bytes, rng) => {
  if (bytes.length === 0) return { bytes, description: "empty file left empty" };
  const at = rng.int(0, bytes.length - 1);
  const length = Math.min(rng.int(1, 64), bytes.length - at);
  const out = new Uint8Array(bytes.length - length);
  out.set(bytes.subarray(0, at));
  out.set(bytes.subarray(at + length), at);
  return { bytes: out, description: `deleted ${length} bytes at ${at}` };
};

const BYTE_MUTATIONS: [ByteMutation, number][] = [
  [flipBytes, 4],
  [overwriteRun, 2],
  [truncate, 2],
  [extend, 1],
  [insertRun, 1],
  [deleteRun, 1],
];

/** One to three format-blind mutations in a row. */
export function mutateBytes(bytes: Uint8Array, rng: Rng): Mutated {
  let current: Mutated = { bytes, description: "" };
  const steps: string[] = [];
  for (let i = rng.int(1, 3); i > 0; i--) {
    current = rng.weighted(BYTE_MUTATIONS)(current.bytes, rng);
    steps.push(current.description);
  }
  return { bytes: current.bytes, description: steps.join("; ") };
}
