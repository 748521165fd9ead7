/**
 * Mutated `.npy` inputs: the magic, version and header length fields, the header dictionary's
 * dtype, order and shape (empty, zero, negative, huge, one off), and the data's length.
 */
import type { Mutated } from "./mutate-bytes.js";
import { mutateBytes } from "./mutate-bytes.js";
import type { Rng } from "./random.js";

const DESCRS = [
  "<f4",
  "<f2",
  "<f8",
  "<i4",
  "<i8",
  "|u1",
  "|b1",
  ">f4",
  "<c8",
  "|O",
  "<U8",
  "|V4",
  "<M8",
  "f4",
  "'",
];
const SHAPES = [
  "()",
  "(0,)",
  "(1,)",
  "(1099511627776,)",
  "(-1,)",
  "(4294967296, 0)",
  "(1.5,)",
  "(2**40,)",
  "(1,1,1,1,1,1,1,1,1)",
  "(65536, 65536)",
  "(",
];

function build(header: string, data: Uint8Array, major = 1): Uint8Array {
  const text = new TextEncoder().encode(header);
  const start = major === 1 ? 10 : 12;
  const out = new Uint8Array(start + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, start);
  out.set(data, start + text.length);
  return out;
}

export function mutateNpy(bytes: Uint8Array, rng: Rng): Mutated {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint16(8, true);
  const header = new TextDecoder("latin1").decode(bytes.subarray(10, 10 + headerLength));
  const data = bytes.subarray(10 + headerLength);
  const shape = /'shape':\s*(\([^)]*\))/.exec(header)?.[1] ?? "()";
  const change = rng.pick([
    "descr",
    "shape",
    "shape",
    "order",
    "header",
    "length field",
    "version",
    "data",
    "bytes",
  ]);
  switch (change) {
    case "descr": {
      const descr = rng.pick(DESCRS);
      return {
        bytes: build(header.replace(/'descr':\s*'[^']*'/, `'descr': '${descr}'`), data),
        description: `npy descr = ${descr}`,
      };
    }
    case "shape": {
      const dims = shape
        .slice(1, -1)
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
        .map(Number);
      const variants = [
        ...SHAPES,
        `(${dims.map((d, i) => (i === dims.length - 1 ? d + 1 : d)).join(", ")},)`,
        `(${[...dims, 1].join(", ")})`,
        `(${dims.slice(1).join(", ")},)`,
      ];
      const next = rng.pick(variants);
      return {
        bytes: build(header.replace(shape, next), data),
        description: `npy shape ${shape} -> ${next}`,
      };
    }
    case "order":
      return {
        bytes: build(header.replace("False", rng.pick(["True", "'no'", "0"])), data),
        description: "npy fortran_order changed",
      };
    case "header": {
      const text = rng.pick([
        "",
        "{}",
        "not a dict",
        "{'descr': '<f4'}",
        `{'shape': ${shape}, 'fortran_order': False}`,
        `${header.slice(0, header.length / 2)}`,
        `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, 'descr': '<i8'}`,
      ]);
      return {
        bytes: build(text, data),
        description: `npy header = ${JSON.stringify(text.slice(0, 60))}`,
      };
    }
    case "length field": {
      const out = bytes.slice();
      const value = rng.pick([0, 1, headerLength - 1, headerLength + 1, 0xffff]);
      new DataView(out.buffer).setUint16(8, value, true);
      return { bytes: out, description: `npy header length field = ${value}` };
    }
    case "version": {
      const major = rng.pick([0, 2, 3, 9]);
      if (major === 2 || major === 3)
        return { bytes: build(header, data, major), description: `npy version ${major}.0` };
      const out = bytes.slice();
      out[6] = major;
      return {
        bytes: out,
        description: `npy version byte = ${major} (header length field unchanged)`,
      };
    }
    case "data": {
      const cut = rng.pick([
        0,
        1,
        Math.floor(data.length / 2),
        data.length - 1,
        data.length + 1,
        data.length * 2,
      ]);
      const body = new Uint8Array(cut);
      body.set(data.subarray(0, Math.min(cut, data.length)));
      return { bytes: build(header, body), description: `npy data ${data.length} -> ${cut} bytes` };
    }
    default: {
      const mutated = mutateBytes(bytes, rng);
      return { bytes: mutated.bytes, description: `npy bytes: ${mutated.description}` };
    }
  }
}
