/**
 * Structure-aware mutations of a Core ML model protobuf: the bytes are decoded with the
 * generated schema, edited, and encoded again. A generic editor walks any message through its
 * descriptor (every scalar, enum, list, map and oneof is a place to edit, fields about shapes,
 * names, sizes and offsets more often); targeted edits build the cases generic edits rarely
 * reach: an immediate constant declared huge or of the wrong size, an op without outputs,
 * nested blocks, a declared shape that disagrees with the computed one, an image input without
 * a width.
 */
import {
  clone,
  create,
  toBinary,
  ScalarType,
  type DescField,
  type DescMessage,
} from "@bufbuild/protobuf";
import { decodeModel } from "../../src/format/ml-model.js";
import {
  ArrayFeatureType_ArrayDataType,
  FeatureTypeSchema,
  ImageFeatureTypeSchema,
} from "../../src/format/gen/FeatureTypes_pb.js";
import {
  BlockSchema,
  DataType,
  DimensionSchema,
  Dimension_UnknownDimensionSchema,
  OperationSchema,
  type Block,
  type Operation,
  type Program,
  type TensorType,
  type TensorValue,
  type Value,
  type Value_ImmediateValue,
} from "../../src/format/gen/MIL_pb.js";
import { ModelSchema, type Model } from "../../src/format/gen/Model_pb.js";
import type { NeuralNetworkLayer } from "../../src/format/gen/NeuralNetwork_pb.js";
import type { Mutated } from "./mutate-bytes.js";
import type { Rng } from "./random.js";

type Obj = Record<string, unknown>;
type Slot = { case: string | undefined; value?: unknown };

interface Site {
  path: string;
  weight: number;
  apply(rng: Rng): string;
}

/** Fields whose edits most often break a loader's assumptions. */
const INTERESTING =
  /shape|dim|size|rank|channel|kernel|stride|pad|width|height|name|offset|datatype|input|output|group|axis|border|dilation|version|value|type|bits|count|scale|bias/i;

const INT32_EDGES = [0, 1, -1, 2, 3, 7, 64, 255, 65535, 2 ** 31 - 1, -(2 ** 31)];
const UINT32_EDGES = [0, 1, 2, 3, 64, 255, 65535, 2 ** 31, 2 ** 32 - 1];
const INT64_EDGES = [
  0n,
  1n,
  -1n,
  2n ** 31n,
  2n ** 32n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
];
const UINT64_EDGES = [
  0n,
  1n,
  2n ** 31n,
  2n ** 32n,
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 64n - 2n,
  2n ** 64n - 1n,
];
const FLOAT_EDGES = [0, -0, 1, -1, NaN, Infinity, -Infinity, 1e-45, 3.4e38, 1e300];
const STRING_EDGES = [
  "",
  "x",
  "../../../etc/passwd",
  "/dev/zero",
  "\u0000",
  "é✓",
  "a".repeat(70_000),
];

function clampInt(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, Math.trunc(value)));
}

function clampBig(value: bigint, low: bigint, high: bigint): bigint {
  return value < low ? low : value > high ? high : value;
}

/** A new value for a scalar of `type` that held `old`. */
function scalarValue(type: ScalarType, old: unknown, rng: Rng, names: readonly string[]): unknown {
  switch (type) {
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT: {
      const v = Number(old ?? 0);
      return rng.pick([...FLOAT_EDGES, -v, v * 1e6, v + 1]);
    }
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32: {
      const v = Number(old ?? 0);
      return clampInt(rng.pick([...INT32_EDGES, v + 1, v - 1, v * 2]), -(2 ** 31), 2 ** 31 - 1);
    }
    case ScalarType.UINT32:
    case ScalarType.FIXED32: {
      const v = Number(old ?? 0);
      return clampInt(rng.pick([...UINT32_EDGES, v + 1, v - 1, v * 2]), 0, 2 ** 32 - 1);
    }
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64: {
      const v = BigInt((old as bigint | number | undefined) ?? 0);
      const value = rng.pick([...INT64_EDGES, v + 1n, v - 1n, v * 1000n]);
      return clampBig(value, -(2n ** 63n), 2n ** 63n - 1n);
    }
    case ScalarType.UINT64:
    case ScalarType.FIXED64: {
      const v = BigInt((old as bigint | number | undefined) ?? 0);
      const value = rng.pick([...UINT64_EDGES, v + 1n, v - 1n, v * 1000n]);
      return clampBig(value, 0n, 2n ** 64n - 1n);
    }
    case ScalarType.BOOL:
      return !old;
    case ScalarType.STRING:
      return rng.chance(0.4) && names.length > 0
        ? rng.pick(names)
        : rng.pick([...STRING_EDGES, `${String(old)}_`]);
    case ScalarType.BYTES:
      return mutatedBytes((old as Uint8Array) ?? new Uint8Array(), rng);
  }
}

function mutatedBytes(old: Uint8Array, rng: Rng): Uint8Array {
  switch (rng.int(0, 3)) {
    case 0:
      return old.slice(0, rng.int(0, Math.max(0, old.length - 1)));
    case 1: {
      const out = new Uint8Array(old.length + rng.pick([1, 2, 3, 64]));
      out.set(old);
      return out;
    }
    case 2:
      return new Uint8Array();
    default: {
      const out = old.slice();
      if (out.length > 0) out[rng.int(0, out.length - 1)] ^= 0xff;
      return out;
    }
  }
}

function withLongs(field: DescField, value: unknown): unknown {
  const longAsString = "longAsString" in field && field.longAsString;
  return longAsString && typeof value === "bigint" ? value.toString() : value;
}

function enumValue(field: DescField, rng: Rng): number {
  const values = field.enum ? field.enum.values.map((v) => v.number) : [];
  return rng.chance(0.7) && values.length > 0 ? rng.pick(values) : rng.pick([999, -1, 2 ** 31 - 1]);
}

/** Every place in `message` (of type `desc`) the generic editor may change. */
function collectSites(
  message: Obj,
  desc: DescMessage,
  path: string,
  sites: Site[],
  names: string[],
) {
  const weightOf = (name: string) => (INTERESTING.test(name) ? 3 : 1);
  for (const field of desc.fields) {
    const at = `${path}.${field.localName}`;
    if (field.oneof) {
      const slot = message[field.oneof.localName] as Slot;
      if (slot.case !== field.localName) continue;
      const others = field.oneof.fields.filter((f) => f !== field && f.fieldKind === "message");
      sites.push({
        path: at,
        weight: 1,
        apply: (rng) => {
          if (others.length > 0 && rng.chance(0.5)) {
            const other = rng.pick(others);
            message[field.oneof!.localName] = {
              case: other.localName,
              value: create(other.message!),
            };
            return `${at}: replaced by an empty ${other.localName}`;
          }
          message[field.oneof!.localName] = { case: undefined };
          return `${at}: removed`;
        },
      });
      if (field.fieldKind === "message") {
        collectSites(slot.value as Obj, field.message, at, sites, names);
      } else if (field.fieldKind === "scalar" || field.fieldKind === "enum") {
        sites.push({
          path: at,
          weight: weightOf(field.localName),
          apply: (rng) => {
            slot.value =
              field.fieldKind === "enum"
                ? enumValue(field, rng)
                : withLongs(field, scalarValue(field.scalar, slot.value, rng, names));
            return `${at} = ${show(slot.value)}`;
          },
        });
      }
      continue;
    }
    const value = message[field.localName];
    switch (field.fieldKind) {
      case "scalar":
        if (field.scalar === ScalarType.STRING && typeof value === "string" && value)
          names.push(value);
        sites.push({
          path: at,
          weight: weightOf(field.localName),
          apply: (rng) => {
            message[field.localName] = withLongs(
              field,
              scalarValue(field.scalar, value, rng, names),
            );
            return `${at} = ${show(message[field.localName])}`;
          },
        });
        break;
      case "enum":
        sites.push({
          path: at,
          weight: weightOf(field.localName),
          apply: (rng) => {
            message[field.localName] = enumValue(field, rng);
            return `${at} = ${show(message[field.localName])}`;
          },
        });
        break;
      case "message":
        if (value === undefined) break;
        sites.push({
          path: at,
          weight: 1,
          apply: () => {
            message[field.localName] = undefined;
            return `${at}: removed`;
          },
        });
        collectSites(value as Obj, field.message, at, sites, names);
        break;
      case "list": {
        const list = value as unknown[];
        if (field.listKind === "scalar" && field.scalar === ScalarType.STRING) {
          names.push(...(list as string[]).filter((s) => s));
        }
        sites.push({
          path: at,
          weight: weightOf(field.localName) + (list.length > 0 ? 1 : 0),
          apply: (rng) => editList(field, list, at, rng, names),
        });
        if (field.listKind === "message") {
          list.forEach((item, i) =>
            collectSites(item as Obj, field.message, `${at}[${i}]`, sites, names),
          );
        }
        break;
      }
      case "map": {
        const map = value as Record<string, unknown>;
        const keys = Object.keys(map);
        names.push(...keys);
        if (keys.length > 0) {
          sites.push({
            path: at,
            weight: weightOf(field.localName),
            apply: (rng) => editMap(field, map, at, rng, names),
          });
        }
        if (field.mapKind === "message") {
          for (const key of keys)
            collectSites(map[key] as Obj, field.message, `${at}[${key}]`, sites, names);
        }
        break;
      }
    }
  }
}

function editList(
  field: DescField & { fieldKind: "list" },
  list: unknown[],
  at: string,
  rng: Rng,
  names: string[],
): string {
  const fresh = (): unknown =>
    field.listKind === "message"
      ? create(field.message)
      : field.listKind === "enum"
        ? enumValue(field, rng)
        : withLongs(field, scalarValue(field.scalar, list[0], rng, names));
  const append = () => {
    const count = rng.pick([1, 1, 2, 16]);
    for (let i = 0; i < count; i++) list.push(fresh());
    return `${at}: appended ${count} item(s)`;
  };
  const choice =
    list.length === 0
      ? "append"
      : rng.pick(["clear", "remove", "duplicate", "swap", "append", "set", "halve"]);
  switch (choice) {
    case "clear":
      list.length = 0;
      return `${at}: emptied`;
    case "remove": {
      const i = rng.int(0, list.length - 1);
      list.splice(i, 1);
      return `${at}: removed item ${i}`;
    }
    case "duplicate": {
      const i = rng.int(0, list.length - 1);
      const item = field.listKind === "message" ? clone(field.message, list[i] as never) : list[i];
      list.splice(i, 0, item);
      return `${at}: duplicated item ${i}`;
    }
    case "swap": {
      const i = rng.int(0, list.length - 1);
      const j = rng.int(0, list.length - 1);
      [list[i], list[j]] = [list[j], list[i]];
      return `${at}: swapped items ${i} and ${j}`;
    }
    case "halve":
      list.length = Math.floor(list.length / 2);
      return `${at}: cut to ${list.length} items`;
    case "set": {
      // Message items are edited in place by their own sites; a new one is appended instead.
      if (field.listKind === "message") return append();
      const i = rng.int(0, list.length - 1);
      list[i] = fresh();
      return `${at}[${i}] = ${show(list[i])}`;
    }
    default:
      return append();
  }
}

function editMap(
  field: DescField & { fieldKind: "map" },
  map: Record<string, unknown>,
  at: string,
  rng: Rng,
  names: string[],
): string {
  const key = rng.pick(Object.keys(map));
  switch (rng.int(0, 2)) {
    case 0:
      delete map[key];
      return `${at}: removed key ${key}`;
    case 1: {
      const renamed = rng.pick(["", `${key}_`, "../x", ...names.slice(0, 50)]);
      map[renamed] = map[key];
      if (renamed !== key) delete map[key];
      return `${at}: renamed key ${key} to ${show(renamed)}`;
    }
    default: {
      const copy = field.mapKind === "message" ? clone(field.message, map[key] as never) : map[key];
      map[`${key}_copy`] = copy;
      return `${at}: copied key ${key}`;
    }
  }
}

function show(value: unknown): string {
  if (typeof value === "string")
    return value.length > 40
      ? `"${value.slice(0, 20)}…" (${value.length} chars)`
      : JSON.stringify(value);
  if (typeof value === "bigint") return `${value}`;
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return String(value);
}

function genericEdit(spec: Model, rng: Rng): string {
  const sites: Site[] = [];
  collectSites(spec as unknown as Obj, ModelSchema, "spec", sites, []);
  const site = rng.weighted(sites.map((s) => [s, s.weight] as const));
  return site.apply(rng);
}

// ---- ML program edits ---------------------------------------------------------------------

function programOf(spec: Model): Program | undefined {
  return spec.Type.case === "mlProgram" ? spec.Type.value : undefined;
}

function blocksOf(program: Program): Block[] {
  const blocks: Block[] = [];
  const visit = (block: Block) => {
    blocks.push(block);
    for (const op of block.operations) op.blocks.forEach(visit);
  };
  for (const fn of Object.values(program.functions))
    Object.values(fn.blockSpecializations).forEach(visit);
  return blocks;
}

function opsOf(program: Program): Operation[] {
  return blocksOf(program).flatMap((b) => b.operations);
}

function tensorTypeOf(type: { type?: { type: Slot } } | undefined): TensorType | undefined {
  const slot = type?.type?.type;
  return slot?.case === "tensorType" ? (slot.value as TensorType) : undefined;
}

function setDims(tensor: TensorType, dims: bigint[]) {
  tensor.dimensions = dims.map((size) =>
    create(DimensionSchema, { dimension: { case: "constant", value: { size } } }),
  );
  tensor.rank = BigInt(dims.length);
}

function constValue(op: Operation): Value | undefined {
  return op.type === "const" ? op.attributes.val : undefined;
}

const HUGE_SHAPES: bigint[][] = [
  [4294967296n],
  [2n ** 31n, 2n ** 31n],
  [65536n, 65536n, 65536n],
  [2n ** 53n],
  [2n ** 64n - 1n],
];

type ProgramEdit = (program: Program, rng: Rng, spec: Model) => string | undefined;

const PROGRAM_EDITS: [string, ProgramEdit, number][] = [
  [
    "huge immediate",
    (program, rng) => {
      const ops = opsOf(program).filter((op) => constValue(op)?.value.case === "immediateValue");
      if (ops.length === 0) return undefined;
      const op = rng.pick(ops);
      const dims = rng.pick(HUGE_SHAPES);
      for (const tensor of [tensorTypeOf(constValue(op)), tensorTypeOf(op.outputs[0])]) {
        if (tensor) setDims(tensor, dims);
      }
      return `const ${op.outputs[0]?.name}: immediate value declared as [${dims.join(",")}]`;
    },
    3,
  ],
  [
    "immediate size",
    (program, rng) => {
      const ops = opsOf(program).filter((op) => {
        const value = constValue(op)?.value;
        return value?.case === "immediateValue" && value.value.value.case === "tensor";
      });
      if (ops.length === 0) return undefined;
      const op = rng.pick(ops);
      const immediate = constValue(op)!.value.value as Value_ImmediateValue;
      const data = (immediate.value.value as TensorValue).value.value as { values: unknown };
      if (data.values instanceof Uint8Array) {
        data.values = mutatedBytes(data.values, rng);
      } else {
        const list = data.values as unknown[];
        if (list.length > 1 && rng.chance(0.5)) list.length = rng.int(0, list.length - 1);
        else list.push(...list.slice(0, rng.int(1, 4)), ...(list.length === 0 ? [0] : []));
      }
      return `const ${op.outputs[0]?.name}: immediate data no longer matches its declared shape`;
    },
    3,
  ],
  [
    "no outputs",
    (program, rng) => {
      const ops = opsOf(program);
      const consts = ops.filter((op) => op.type === "const");
      const op = rng.chance(0.6) && consts.length > 0 ? rng.pick(consts) : rng.pick(ops);
      const name = op.outputs[0]?.name;
      op.outputs = [];
      return `${op.type} ${name}: outputs removed`;
    },
    2,
  ],
  [
    "output shape",
    (program, rng) => {
      const outputs = opsOf(program)
        .filter((op) => op.type !== "const")
        .flatMap((op) => op.outputs)
        .filter((o) => tensorTypeOf(o)?.dimensions.length);
      if (outputs.length === 0) return undefined;
      const output = rng.pick(outputs);
      const tensor = tensorTypeOf(output)!;
      const dims = tensor.dimensions.map((d) =>
        d.dimension.case === "constant" ? d.dimension.value.size : 1n,
      );
      const i = rng.int(0, dims.length - 1);
      const change = rng.pick(["+1", "-1", "0", "x2", "drop", "add"]);
      if (change === "drop") dims.splice(i, 1);
      else if (change === "add") dims.push(rng.pick([1n, 2n, 7n]));
      else
        dims[i] =
          change === "+1"
            ? dims[i] + 1n
            : change === "-1"
              ? dims[i] > 0n
                ? dims[i] - 1n
                : 0n
              : change === "0"
                ? 0n
                : dims[i] * 2n;
      setDims(tensor, dims);
      return `${output.name}: declared shape changed to [${dims.join(",")}]`;
    },
    3,
  ],
  [
    "binding name",
    (program, rng) => {
      const bindings = opsOf(program).flatMap((op) =>
        Object.entries(op.inputs).flatMap(([param, arg]) =>
          arg.arguments.filter((b) => b.binding.case === "name").map((b) => ({ op, param, b })),
        ),
      );
      if (bindings.length === 0) return undefined;
      const { op, param, b } = rng.pick(bindings);
      const name = rng.pick(["", "no_such_variable", op.outputs[0]?.name ?? "self"]);
      const was = b.binding.value;
      b.binding = { case: "name", value: name };
      return `${op.type} ${op.outputs[0]?.name}: input ${param} bound to ${JSON.stringify(name)} instead of ${String(was)}`;
    },
    3,
  ],
  [
    "nested blocks",
    (program, rng) => {
      const ops = opsOf(program);
      const op = rng.pick(ops);
      const depth = rng.pick([1, 3, 100, 1000, 5000]);
      const outer = op.outputs[0]?.name ?? "x";
      let block = create(BlockSchema, { outputs: [outer] });
      for (let level = 1; level < depth; level++) {
        const holder = create(OperationSchema, {
          type: rng.pick(["cond", "while_loop", "identity"]),
          blocks: [block],
        });
        block = create(BlockSchema, { outputs: [outer], operations: [holder] });
      }
      op.blocks.push(block);
      return `${op.type} ${outer}: ${depth} nested blocks added`;
    },
    2,
  ],
  [
    "remove op",
    (program, rng) => {
      const blocks = blocksOf(program).filter((b) => b.operations.length > 0);
      const block = rng.pick(blocks);
      const [op] = block.operations.splice(rng.int(0, block.operations.length - 1), 1);
      return `${op.type} ${op.outputs[0]?.name}: removed`;
    },
    2,
  ],
  [
    "duplicate op",
    (program, rng) => {
      const blocks = blocksOf(program).filter((b) => b.operations.length > 0);
      const block = rng.pick(blocks);
      const i = rng.int(0, block.operations.length - 1);
      const op = block.operations[i];
      block.operations.splice(rng.int(0, block.operations.length), 0, clone(OperationSchema, op));
      return `${op.type} ${op.outputs[0]?.name}: duplicated`;
    },
    1,
  ],
  [
    "op type",
    (program, rng) => {
      const op = rng.pick(opsOf(program));
      const was = op.type;
      op.type = rng.pick([
        "const",
        "conv",
        "linear",
        "matmul",
        "concat",
        "reshape",
        "gather",
        "constexpr_lut_to_dense",
        "constexpr_affine_dequantize",
        "constexpr_blockwise_shift_scale",
        "constexpr_sparse_to_dense",
        "constexpr_lut_to_sparse",
        "constexpr_sparse_blockwise_shift_scale",
        "constexpr_cast",
        "while_loop",
        "no_such_op",
        "",
      ]);
      return `${was} ${op.outputs[0]?.name}: type changed to ${JSON.stringify(op.type)}`;
    },
    2,
  ],
  [
    "blob offset",
    (program, rng) => {
      const blobs = opsOf(program).flatMap((op) =>
        Object.values(op.attributes).flatMap((v) =>
          v.value.case === "blobFileValue" ? [v.value.value] : [],
        ),
      );
      if (blobs.length === 0) return undefined;
      const blob = rng.pick(blobs);
      const was = blob.offset;
      blob.offset = rng.pick([
        0n,
        1n,
        63n,
        64n,
        was + 64n,
        was - 64n,
        was + 1n,
        2n ** 32n,
        2n ** 63n,
        2n ** 64n - 1n,
        524_992n,
      ]);
      if (blob.offset < 0n) blob.offset = 0n;
      return `blob at ${was}: offset changed to ${blob.offset}`;
    },
    3,
  ],
  [
    "blob file",
    (program, rng) => {
      const blobs = opsOf(program).flatMap((op) =>
        Object.values(op.attributes).flatMap((v) =>
          v.value.case === "blobFileValue" ? [v.value.value] : [],
        ),
      );
      if (blobs.length === 0) return undefined;
      const blob = rng.pick(blobs);
      blob.fileName = rng.pick([
        "",
        "@model_path/weights/missing.bin",
        "@model_path/weights/../../../Manifest.json",
        "@model_path/../../../../../../etc/passwd",
        "@model_path/model.mlmodel",
        "@model_path/weights",
        "/dev/zero",
        "/dev/urandom",
        "weights/weight.bin",
      ]);
      return `blob at ${blob.offset}: file name changed to ${JSON.stringify(blob.fileName)}`;
    },
    2,
  ],
  [
    "dtype",
    (program, rng) => {
      const tensors = opsOf(program)
        .flatMap((op) => [...op.outputs.map((o) => tensorTypeOf(o)), tensorTypeOf(constValue(op))])
        .filter((t): t is TensorType => t !== undefined);
      if (tensors.length === 0) return undefined;
      const tensor = rng.pick(tensors);
      const values = Object.values(DataType).filter((v): v is number => typeof v === "number");
      const was = tensor.dataType;
      tensor.dataType = rng.chance(0.85) ? rng.pick(values) : rng.pick([999, -1]);
      return `a tensor type's dtype changed from ${DataType[was]} to ${DataType[tensor.dataType] ?? tensor.dataType}`;
    },
    3,
  ],
  [
    "rank",
    (program, rng) => {
      const tensors = opsOf(program)
        .flatMap((op) => op.outputs.map((o) => tensorTypeOf(o)))
        .filter((t): t is TensorType => !!t);
      if (tensors.length === 0) return undefined;
      const tensor = rng.pick(tensors);
      tensor.rank = rng.pick([0n, tensor.rank + 1n, 2n ** 32n, 2n ** 63n - 1n]);
      return `a tensor type's rank set to ${tensor.rank} (${tensor.dimensions.length} dimensions)`;
    },
    1,
  ],
  [
    "unknown dimension",
    (program, rng) => {
      const tensors = opsOf(program)
        .flatMap((op) => [...op.outputs.map((o) => tensorTypeOf(o)), tensorTypeOf(constValue(op))])
        .filter((t): t is TensorType => !!t && t.dimensions.length > 0);
      if (tensors.length === 0) return undefined;
      const tensor = rng.pick(tensors);
      const i = rng.int(0, tensor.dimensions.length - 1);
      tensor.dimensions[i] = create(DimensionSchema, {
        dimension: {
          case: "unknown",
          value: create(Dimension_UnknownDimensionSchema, { variadic: rng.chance(0.5) }),
        },
      });
      return `dimension ${i} of a tensor type made unknown`;
    },
    1,
  ],
  [
    "block outputs",
    (program, rng) => {
      const block = rng.pick(blocksOf(program));
      const change = rng.pick(["clear", "missing", "duplicate", "empty"]);
      if (change === "clear") block.outputs = [];
      else if (change === "missing")
        block.outputs[rng.int(0, Math.max(0, block.outputs.length - 1))] = "no_such_output";
      else if (change === "duplicate") block.outputs.push(...block.outputs);
      else block.outputs.push("");
      return `block outputs: ${change}`;
    },
    2,
  ],
  [
    "function inputs",
    (program, rng) => {
      const fn = rng.pick(Object.values(program.functions));
      if (fn.inputs.length === 0) return undefined;
      const input = rng.pick(fn.inputs);
      const change = rng.pick(["remove", "rename", "shape", "dtype"]);
      if (change === "remove") fn.inputs.splice(fn.inputs.indexOf(input), 1);
      else if (change === "rename") input.name = rng.pick(["", "renamed_input"]);
      else if (change === "shape" && tensorTypeOf(input))
        setDims(
          tensorTypeOf(input)!,
          rng.pick([[0n], [4294967296n], [1n, 1n, 1n, 1n, 1n, 1n, 1n]]),
        );
      else if (tensorTypeOf(input))
        tensorTypeOf(input)!.dataType = rng.pick<number>([
          DataType.STRING,
          DataType.BOOL,
          DataType.INT64,
          999,
        ]);
      return `function input ${input.name}: ${change}`;
    },
    2,
  ],
  [
    "opset",
    (program, rng) => {
      const fn = rng.pick(Object.values(program.functions));
      fn.opset = rng.pick(["", "CoreML5", "CoreML6", "CoreML7", "CoreML8", "CoreML99"]);
      return `function opset set to ${JSON.stringify(fn.opset)}`;
    },
    1,
  ],
];

// ---- neural network and description edits -------------------------------------------------

function layersOf(spec: Model): NeuralNetworkLayer[] {
  const type = spec.Type as Slot;
  const network = type.value as { layers?: NeuralNetworkLayer[] } | undefined;
  return network?.layers ?? [];
}

/** Every message of `typeName` under `root` (weights, layers' params, ...). */
function findMessages(root: unknown, typeName?: string, found: Obj[] = [], depth = 0): Obj[] {
  if (depth > 40 || root === null || typeof root !== "object" || ArrayBuffer.isView(root))
    return found;
  if (Array.isArray(root)) {
    if (root.length > 0 && typeof root[0] === "object")
      for (const item of root) findMessages(item, typeName, found, depth + 1);
    return found;
  }
  const obj = root as Obj;
  if (typeName === undefined ? "$typeName" in obj : obj.$typeName === typeName) found.push(obj);
  for (const value of Object.values(obj)) findMessages(value, typeName, found, depth + 1);
  return found;
}

type SpecEdit = (spec: Model, rng: Rng) => string | undefined;

const SPEC_EDITS: [string, SpecEdit, number][] = [
  [
    "layer list",
    (spec, rng) => {
      const layers = layersOf(spec);
      if (layers.length === 0) return undefined;
      const i = rng.int(0, layers.length - 1);
      const change = rng.pick(["remove", "duplicate", "reverse"]);
      if (change === "remove") layers.splice(i, 1);
      else if (change === "duplicate") layers.splice(i, 0, layers[i]);
      else layers.reverse();
      return `layers: ${change} (${layers[i]?.name ?? ""})`;
    },
    2,
  ],
  [
    "layer wiring",
    (spec, rng) => {
      const layers = layersOf(spec);
      if (layers.length === 0) return undefined;
      const layer = rng.pick(layers);
      const names = layers.flatMap((l) => [...l.input, ...l.output]);
      const side = rng.pick(["input", "output"] as const);
      const list = layer[side];
      const name = rng.pick(["", "no_such_blob", ...names]);
      if (list.length === 0 || rng.chance(0.2)) list.push(name);
      else list[rng.int(0, list.length - 1)] = name;
      return `layer ${layer.name}: ${side} now ${JSON.stringify(list)}`;
    },
    3,
  ],
  [
    "weights",
    (spec, rng) => {
      const weights = findMessages(spec.Type, "CoreML.Specification.WeightParams");
      const filled = weights.filter(
        (w) =>
          (w.floatValue as number[]).length > 0 ||
          (w.float16Value as Uint8Array).length > 0 ||
          (w.rawValue as Uint8Array).length > 0,
      );
      if (filled.length === 0) return undefined;
      const w = rng.pick(filled);
      const floats = w.floatValue as number[];
      const change = rng.pick(["short", "long", "empty", "fp16 odd", "raw", "nan"]);
      if (change === "short") floats.length = Math.floor(floats.length / rng.pick([2, 3, 1000]));
      else if (change === "long") floats.push(...floats.slice(0, rng.int(1, 100)), 1);
      else if (change === "empty") {
        w.floatValue = [];
        w.float16Value = new Uint8Array();
        w.rawValue = new Uint8Array();
      } else if (change === "fp16 odd") w.float16Value = new Uint8Array(rng.pick([1, 3, 7, 1001]));
      else if (change === "raw") w.rawValue = new Uint8Array(rng.pick([1, 5, 64, 4096]));
      else floats.fill(NaN, 0, Math.min(floats.length, 10));
      return `a layer's weights: ${change}`;
    },
    3,
  ],
  [
    "layer sizes",
    (spec, rng) => {
      const fields = [
        "outputChannels",
        "kernelChannels",
        "inputChannels",
        "inputDim",
        "nGroups",
        "kernelSize",
        "stride",
        "dilationFactor",
        "borderAmounts",
        "startEdgeSize",
        "endEdgeSize",
        "axis",
      ];
      const params = layersOf(spec).flatMap((l) => findMessages((l.layer as Slot).value));
      const candidates = params.flatMap((p) => fields.filter((f) => f in p).map((f) => ({ p, f })));
      if (candidates.length === 0) return undefined;
      const { p, f } = rng.pick(candidates);
      const value = rng.pick([0n, 1n, 3n, 1000n, 2n ** 31n - 1n, 2n ** 32n - 1n, 2n ** 63n - 1n]);
      const old = p[f];
      if (Array.isArray(old))
        p[f] = old.length > 0 && typeof old[0] === "bigint" ? old.map(() => value) : [];
      else
        p[f] = typeof old === "bigint" ? value : Number(value > 2n ** 31n ? 2n ** 31n - 1n : value);
      return `${String(p.$typeName).split(".").pop()}.${f} = ${value}`;
    },
    3,
  ],
  [
    "description",
    (spec, rng) => {
      const description = spec.description;
      if (!description) return undefined;
      const side = rng.pick(["input", "output"] as const);
      const features = description[side];
      if (features.length === 0) return undefined;
      const i = rng.int(0, features.length - 1);
      const feature = features[i];
      const change = rng.pick(["remove", "rename", "shape", "image", "dtype", "clear type"]);
      const array =
        feature.type?.Type.case === "multiArrayType" ? feature.type.Type.value : undefined;
      if (change === "remove") features.splice(i, 1);
      else if (change === "rename")
        feature.name = rng.pick(["", "renamed", ...features.map((f) => f.name)]);
      else if (change === "shape" && array)
        array.shape = rng.pick([
          [],
          [0n],
          [-1n],
          [4294967296n],
          [2n ** 62n, 2n ** 62n],
          [1n, 1n, 1n, 1n, 1n, 1n],
        ]);
      else if (change === "dtype" && array)
        array.dataType = rng.pick<number>([
          ArrayFeatureType_ArrayDataType.INT32,
          ArrayFeatureType_ArrayDataType.FLOAT16,
          ArrayFeatureType_ArrayDataType.INVALID_ARRAY_DATA_TYPE,
          12345,
        ]);
      else if (change === "image") {
        feature.type = create(FeatureTypeSchema, {
          Type: {
            case: "imageType",
            value: create(ImageFeatureTypeSchema, {
              width: rng.pick([0n, 1n, 16n]),
              height: rng.pick([0n, 16n, 4294967296n]),
              colorSpace: rng.pick([0, 10, 20, 30, 40, 77]),
            }),
          },
        });
      } else feature.type = undefined;
      return `${side} ${feature.name}: ${change}`;
    },
    3,
  ],
  [
    "specification version",
    (spec, rng) => {
      spec.specificationVersion = rng.pick([0, 1, 4, 6, 7, 8, 9, 10, 99, 2 ** 31 - 1, -1]);
      return `specificationVersion = ${spec.specificationVersion}`;
    },
    1,
  ],
];

/** One structure-aware edit: targeted where one applies (and usually), else generic. */
function editOnce(spec: Model, rng: Rng): string {
  const program = programOf(spec);
  if (rng.chance(0.55)) {
    const edits: [SpecEdit, number][] = [
      ...SPEC_EDITS.map(([, edit, weight]): [SpecEdit, number] => [edit, weight]),
      ...(program
        ? PROGRAM_EDITS.map(([, edit, weight]): [SpecEdit, number] => [
            (s, r) => edit(program, r, s),
            weight * 2,
          ])
        : []),
    ];
    for (let attempt = 0; attempt < 4; attempt++) {
      const description = rng.weighted(edits)(spec, rng);
      if (description) return description;
    }
  }
  return genericEdit(spec, rng);
}

/**
 * One or two structure-aware edits of a model protobuf's bytes. Returns undefined when the
 * bytes do not decode or no edited spec encodes (the caller then mutates bytes instead).
 */
export function mutateModelProto(bytes: Uint8Array, rng: Rng): Mutated | undefined {
  let spec: Model;
  try {
    spec = decodeModel(bytes, "seed");
  } catch {
    return undefined;
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const edited = clone(ModelSchema, spec);
    const steps: string[] = [];
    try {
      for (let i = rng.chance(0.8) ? 1 : 2; i > 0; i--) steps.push(editOnce(edited, rng));
      return { bytes: toBinary(ModelSchema, edited), description: steps.join("; ") };
    } catch {
      // An edit the encoder refuses (a value out of its field's range, too deep): try another.
    }
  }
  return undefined;
}
