/**
 * Merging ML programs into one multifunction package (coremltools' `save_multifunction`): each
 * source gives one function, under its own name or a new one; every weight whose bytes are
 * identical to one already written (the same base under several adapters, a prefill and a
 * decode converted from one checkpoint, compressed or not) is stored once.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  FunctionDescriptionSchema,
  ModelDescriptionSchema,
  ModelSchema,
  type FeatureDescription,
  type Model,
} from "../format/gen/Model_pb.js";
import {
  ProgramSchema,
  Value_BlobFileValueSchema,
  type Block,
  type Function,
} from "../format/gen/MIL_pb.js";
import { BlobFileWriter } from "../format/blob/writer.js";
import { DEFAULT_WEIGHT_FILE, type MLModel } from "../format/ml-model.js";
import { scratchStorage } from "../format/scratch.js";
import { ConfigError } from "../errors.js";
import { contentHash } from "../kernels/hash.js";
import { literalValues } from "./rewriter.js";
import { TARGETS } from "./targets.js";
import { walkOperations } from "./walk.js";

export interface MergeSource {
  model: MLModel;
  /** The function to take (default: the model's default function). */
  functionName?: string;
  /** Its name in the merged model (default: the name it has). */
  as?: string;
  /** For messages: where the model came from. */
  label?: string;
}

export interface MergeOptions {
  /** The merged model's default function (default: the first one). */
  defaultFunction?: string;
  /** Folder for the new weight file until the model is saved (Node). */
  tempDir?: string;
}

export interface MergeResult {
  model: MLModel;
  /** The merged functions, in order, with the model each came from. */
  functions: { name: string; source: string; from: string }[];
  /** Blobs the functions reference, and those stored (identical bytes are stored once). */
  blobs: { referenced: number; stored: number };
  /** Bytes of blob data not written because identical bytes were already stored. */
  bytesSaved: number;
}

/** Multifunction ML programs need iOS18 (specification version 9). */
const MULTIFUNCTION_VERSION = TARGETS.iOS18.specificationVersion;

function defaultFunctionOf(spec: Model): string {
  return spec.description?.defaultFunctionName || "main";
}

/** A function's features: its own entry in a multifunction description, else the model's. */
function featuresOf(spec: Model, name: string) {
  const description = spec.description;
  const own = description?.functions.find((f) => f.name === name);
  const source = own ?? description;
  const copy = (list: FeatureDescription[] | undefined) => [...(list ?? [])];
  return { input: copy(source?.input), output: copy(source?.output), state: copy(source?.state) };
}

/**
 * Copies the blobs the ops of `blocks` (nested ones too) reference in `model` into `writer`,
 * storing identical bytes once (`stored` maps contents to offsets, shared between calls), and
 * points the values at the copies in the default weight file.
 */
export async function copyBlobs(
  blocks: readonly Block[],
  model: MLModel,
  writer: BlobFileWriter,
  stored: Map<string, number>,
): Promise<{ referenced: number; bytesSaved: number }> {
  // The source's blobs: (file, offset) -> new offset, so each is read once.
  const moved = new Map<string, number>();
  let bytesSaved = 0;
  for (const block of blocks) {
    for (const { op } of walkOperations(block)) {
      for (const value of literalValues(op)) {
        if (value.value.case !== "blobFileValue") continue;
        const { fileName, offset } = value.value.value;
        const key = `${fileName}\u0000${offset}`;
        let at = moved.get(key);
        if (at === undefined) {
          const reader = await model.blobFile(fileName);
          const { metadata, bytes } = await reader.readData(Number(offset));
          const contentKey = `${metadata.dtype}\u0000${metadata.elementCount}\u0000${contentHash(bytes)}`;
          at = stored.get(contentKey);
          if (at === undefined) {
            at = await writer.append(metadata.dtype, bytes, metadata.elementCount);
            stored.set(contentKey, at);
          } else {
            bytesSaved += bytes.byteLength;
          }
          moved.set(key, at);
        }
        value.value.value = create(Value_BlobFileValueSchema, {
          fileName: DEFAULT_WEIGHT_FILE,
          offset: BigInt(at),
        });
      }
    }
  }
  return { referenced: moved.size, bytesSaved };
}

export async function mergeModels(
  sources: readonly MergeSource[],
  options: MergeOptions = {},
): Promise<MergeResult> {
  if (sources.length === 0) throw new ConfigError("merge: no models to merge");
  const taken: { name: string; fn: Function; features: ReturnType<typeof featuresOf> }[] = [];
  const origins: MergeResult["functions"] = [];
  const file = await scratchStorage(options.tempDir).create();
  const writer = await BlobFileWriter.create(file.writer);
  const stored = new Map<string, number>();
  let referenced = 0;
  let bytesSaved = 0;
  let version: number = MULTIFUNCTION_VERSION;
  try {
    for (const [index, source] of sources.entries()) {
      const label = source.label ?? source.model.sourcePath ?? `model ${index + 1}`;
      // A binary round trip copies the program, which the merged model rewrites.
      const spec = fromBinary(ModelSchema, toBinary(ModelSchema, source.model.spec));
      if (spec.Type.case !== "mlProgram") {
        throw new ConfigError(
          `${label}: merge takes ML programs; this is a ${spec.Type.case} model`,
        );
      }
      const from = source.functionName ?? defaultFunctionOf(spec);
      const fn = spec.Type.value.functions[from];
      if (!fn) {
        const names = Object.keys(spec.Type.value.functions).join(", ");
        throw new ConfigError(`${label}: no function named ${from} (it has ${names})`);
      }
      const name = source.as ?? from;
      const clash = origins.find((o) => o.name === name);
      if (clash) {
        throw new ConfigError(
          `${label}:${from} and ${clash.source}:${clash.from} would both be function ${name}: rename one (=NAME)`,
        );
      }
      version = Math.max(version, spec.specificationVersion);
      const copied = await copyBlobs(
        Object.values(fn.blockSpecializations),
        source.model,
        writer,
        stored,
      );
      referenced += copied.referenced;
      bytesSaved += copied.bytesSaved;
      taken.push({ name, fn, features: featuresOf(spec, from) });
      origins.push({ name, source: label, from });
    }
    await writer.finish();
  } catch (error) {
    await writer.finish().catch(() => undefined);
    await file.source.discard?.();
    throw error;
  }

  const defaultFunction = options.defaultFunction ?? taken[0].name;
  const main = taken.find((t) => t.name === defaultFunction);
  if (!main) {
    await file.source.discard?.();
    throw new ConfigError(
      `--default ${defaultFunction}: no merged function has that name (${taken.map((t) => t.name).join(", ")})`,
    );
  }
  const first = sources[0].model.spec;
  const spec = create(ModelSchema, {
    specificationVersion: version,
    description: create(ModelDescriptionSchema, {
      ...main.features,
      functions: taken.map(({ name, features }) =>
        create(FunctionDescriptionSchema, { name, ...features }),
      ),
      defaultFunctionName: defaultFunction,
      ...(first.description?.metadata && { metadata: first.description.metadata }),
    }),
    Type: {
      case: "mlProgram",
      value: create(ProgramSchema, {
        version: 1n,
        functions: Object.fromEntries(taken.map(({ name, fn }) => [name, fn])),
      }),
    },
  });
  const model = sources[0].model.derive(spec, new Map([[DEFAULT_WEIGHT_FILE, file.source]]));
  return {
    model,
    functions: origins,
    blobs: { referenced, stored: stored.size },
    bytesSaved,
  };
}
