/**
 * Splitting an ML program in two (coremltools' `bisect_model`): the function's top-level ops are
 * cut where the weight bytes before and after are closest to equal, so each half fits where
 * the whole would not (a device's memory, a 2 GB file limit). The values crossing the cut become
 * the first half's outputs and the second half's inputs; each half keeps the weights (consts
 * and compressed weights) its ops read.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ArrayFeatureType_ArrayDataType,
  FeatureTypeSchema,
} from "../format/gen/FeatureTypes_pb.js";
import {
  FeatureDescriptionSchema,
  ModelDescriptionSchema,
  ModelSchema,
  type FeatureDescription,
} from "../format/gen/Model_pb.js";
import {
  BlockSchema,
  NamedValueTypeSchema,
  type Block,
  type Operation,
  type Program,
} from "../format/gen/MIL_pb.js";
import { BlobFileWriter } from "../format/blob/writer.js";
import { DEFAULT_WEIGHT_FILE, type MLModel } from "../format/ml-model.js";
import { scratchStorage } from "../format/scratch.js";
import { ConfigError, UnsupportedError } from "../errors.js";
import { byteLength, elementCount, type ElementType } from "../kernels/dtype.js";
import { isConstexprOp } from "./constexpr.js";
import { copyBlobs } from "./merge.js";
import { literalValues } from "./rewriter.js";
import { tensorTypeInfo } from "./types.js";
import { walkOperations } from "./walk.js";

export interface SplitOptions {
  /** The function to split (default: the model's default function). */
  functionName?: string;
  tempDir?: string;
}

export interface SplitResult {
  /** The first half (its outputs feed the second) and the second half. */
  parts: [MLModel, MLModel];
  /** Names of the values crossing the cut. */
  boundary: string[];
  /** Weight bytes each half stores. */
  weightBytes: [number, number];
  /** The first op of the second half. */
  cutBefore: string;
}

const isWeightOp = (op: Operation) => op.type === "const" || isConstexprOp(op.type);

/** Names an op reads, its nested blocks' reads of outer values included. */
function namesRead(op: Operation): Set<string> {
  const names = new Set<string>();
  const defined = new Set<string>();
  for (const { op: inner, block } of walkOperations({ operations: [op] } as Block)) {
    if (inner !== op) for (const output of inner.outputs) defined.add(output.name);
    for (const input of block.inputs ?? []) defined.add(input.name);
    for (const argument of Object.values(inner.inputs)) {
      for (const { binding } of argument.arguments) {
        if (binding.case === "name") names.add(binding.value);
      }
    }
    for (const nested of inner.blocks) for (const o of nested.outputs) names.add(o);
  }
  for (const name of defined) names.delete(name);
  return names;
}

function blobBytes(op: Operation): number {
  let bytes = 0;
  for (const value of literalValues(op)) {
    if (value.value.case !== "blobFileValue") continue;
    const info = tensorTypeInfo(value.type);
    if (info && !info.shape.includes(null)) {
      bytes += byteLength(info.dtype, elementCount(info.shape as number[]));
    }
  }
  return bytes;
}

const ARRAY_TYPES: Partial<Record<ElementType, ArrayFeatureType_ArrayDataType>> = {
  fp32: ArrayFeatureType_ArrayDataType.FLOAT32,
  fp16: ArrayFeatureType_ArrayDataType.FLOAT16,
  int32: ArrayFeatureType_ArrayDataType.INT32,
};

/** A model feature for a value crossing the cut. */
function boundaryFeature(
  name: string,
  type: Operation["outputs"][number]["type"],
): FeatureDescription {
  const info = tensorTypeInfo(type);
  const dataType = info && ARRAY_TYPES[info.dtype];
  if (!info || dataType === undefined || info.shape.includes(null)) {
    throw new UnsupportedError(
      `split: value ${name} crosses the cut but is not an fp16, fp32 or int32 tensor of known shape`,
    );
  }
  return create(FeatureDescriptionSchema, {
    name,
    type: create(FeatureTypeSchema, {
      Type: {
        case: "multiArrayType",
        value: { shape: (info.shape as number[]).map(BigInt), dataType },
      },
    }),
  });
}

/** Splits the function's top-level ops in two halves of about equal weight bytes. */
export async function splitModel(model: MLModel, options: SplitOptions = {}): Promise<SplitResult> {
  const spec = model.spec;
  if (spec.Type.case !== "mlProgram") {
    throw new UnsupportedError(`split takes ML programs; this is a ${spec.Type.case} model`);
  }
  const functionName = options.functionName ?? (spec.description?.defaultFunctionName || "main");
  const fn = spec.Type.value.functions[functionName];
  if (!fn) throw new ConfigError(`--function ${functionName}: the model has no such function`);
  const block = fn.blockSpecializations[fn.opset] ?? Object.values(fn.blockSpecializations)[0];
  const ops = block.operations;

  // Producers of weights, and the weight bytes each one stands for (its chain's blobs).
  const producer = new Map<string, Operation>();
  for (const op of ops) for (const output of op.outputs) producer.set(output.name, op);
  const weightOps = new Set(ops.filter(isWeightOp));
  /** The weight ops a set of names needs, parameters of compressed weights included. */
  const weightsFor = (names: Iterable<string>, into: Set<Operation>) => {
    const pending = [...names];
    while (pending.length > 0) {
      const op = producer.get(pending.pop()!);
      if (!op || !weightOps.has(op) || into.has(op)) continue;
      into.add(op);
      pending.push(...namesRead(op));
    }
    return into;
  };
  const compute = ops.filter((op) => !isWeightOp(op));
  if (compute.length < 2)
    throw new ConfigError("split: the function has fewer than two ops to split");
  // Each weight's bytes count where it is first read.
  const counted = new Set<Operation>();
  const bytesAt = compute.map((op) => {
    const added = [...weightsFor(namesRead(op), new Set())].filter((w) => !counted.has(w));
    for (const w of added) counted.add(w);
    return added.reduce((sum, w) => sum + blobBytes(w), 0);
  });
  const total = bytesAt.reduce((a, b) => a + b, 0);
  let best = 1;
  let prefix = 0;
  let bestGap = Infinity;
  for (let k = 1; k < compute.length; k++) {
    prefix += bytesAt[k - 1];
    const gap = Math.abs(2 * prefix - total);
    // On a tie the later cut: ops that add no weights (activations) stay with their producer.
    if (gap <= bestGap) [best, bestGap] = [k, gap];
  }
  const first = compute.slice(0, best);
  const second = compute.slice(best);

  const firstOutputs = new Set(first.flatMap((op) => op.outputs.map((o) => o.name)));
  const secondReads = new Set(second.flatMap((op) => [...namesRead(op)]));
  const outputs = block.outputs;
  const outputType = new Map(
    first.flatMap((op) => op.outputs.map((o) => [o.name, o.type] as const)),
  );
  // Values the second half (or the model's outputs) needs from the first half.
  const boundary = [...firstOutputs].filter((n) => secondReads.has(n) || outputs.includes(n));
  const inputNames = new Set(fn.inputs.map((i) => i.name));
  const features = new Map(
    [...(spec.description?.input ?? []), ...(spec.description?.output ?? [])].map((f) => [
      f.name,
      f,
    ]),
  );

  const part = async (
    computeOps: Operation[],
    partInputs: { name: string; type: Operation["outputs"][number]["type"] }[],
    partOutputs: string[],
  ) => {
    const needed = weightsFor(
      computeOps.flatMap((op) => [...namesRead(op)]),
      new Set(),
    );
    const keptIndices = ops.flatMap((op, i) =>
      needed.has(op) || computeOps.includes(op) ? [i] : [],
    );
    const kept = keptIndices.map((i) => ops[i]);
    // A copy of the whole model, cut down to the part (the ops keep their order).
    const partSpec = fromBinary(ModelSchema, toBinary(ModelSchema, spec));
    const program = partSpec.Type.value as Program;
    const partFn = program.functions[functionName];
    program.functions = { [functionName]: partFn };
    partFn.inputs = partInputs.map((i) => create(NamedValueTypeSchema, i));
    const partBlock = create(BlockSchema, {
      operations: keptIndices.map((i) => partFn.blockSpecializations[fn.opset].operations[i]),
      outputs: partOutputs,
    });
    partFn.blockSpecializations = { [fn.opset]: partBlock };
    const file = await scratchStorage(options.tempDir).create();
    const writer = await BlobFileWriter.create(file.writer);
    await copyBlobs([partBlock], model, writer, new Map());
    await writer.finish();
    const feature = (name: string) =>
      features.get(name) ?? boundaryFeature(name, outputType.get(name));
    partSpec.description = create(ModelDescriptionSchema, {
      input: partInputs.map((i) => feature(i.name)),
      output: partOutputs.map(feature),
      ...(spec.description?.metadata && { metadata: spec.description.metadata }),
      ...(functionName !== "main" && { defaultFunctionName: functionName }),
    });
    const bytes = kept.reduce((sum, op) => sum + blobBytes(op), 0);
    return { model: model.derive(partSpec, new Map([[DEFAULT_WEIGHT_FILE, file.source]])), bytes };
  };

  const fnInputs = (computeOps: Operation[]) => {
    const reads = new Set(computeOps.flatMap((op) => [...namesRead(op)]));
    return fn.inputs.filter((i) => reads.has(i.name)).map((i) => ({ name: i.name, type: i.type }));
  };
  const a = await part(first, fnInputs(first), boundary);
  const secondInputs = [
    ...boundary
      .filter((n) => secondReads.has(n))
      .map((name) => ({ name, type: outputType.get(name) })),
    ...fnInputs(second).filter((i) => inputNames.has(i.name)),
  ];
  const secondOutputs = outputs.filter((n) => !firstOutputs.has(n));
  const b = await part(second, secondInputs, secondOutputs);
  return {
    parts: [a.model, b.model],
    boundary,
    weightBytes: [a.bytes, b.bytes],
    cutBefore: second[0].outputs[0]?.name ?? second[0].type,
  };
}
