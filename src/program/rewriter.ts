/**
 * Streams an ML program's weights into new weight files while passes rewrite its ops.
 *
 * Ops are visited in program order; a visitor may replace an op by new ops whose large literal
 * values are written to the output weight file when the replacement is committed. Visits run
 * concurrently (so kernels can keep every core busy) under a memory budget, and are committed
 * strictly in program order, so output files are deterministic. Blobs of ops left alone are
 * copied. The input model is never modified: the output is a new model whose weight files are
 * temporary files until it is saved.
 */
import { clone, create } from "@bufbuild/protobuf";
import type { Model } from "../format/gen/Model_pb.js";
import {
  OperationSchema,
  ValueSchema,
  Value_BlobFileValueSchema,
  type Block,
  type Operation,
  type Value,
} from "../format/gen/MIL_pb.js";
import { BlobFileWriter, tensorBlobBytes } from "../format/blob/writer.js";
import { copyMessage } from "../format/copy-message.js";
import type { WeightFileSource } from "../format/blob/io.js";
import { DEFAULT_WEIGHT_FILE, MLModel } from "../format/ml-model.js";
import { scratchStorage, type ScratchFile, type ScratchStorage } from "../format/scratch.js";
import { modelTree } from "../format/model-tree.js";
import { byteLength, elementCount, type Tensor } from "../kernels/dtype.js";
import { contentHash } from "../kernels/hash.js";
import type { ProgressEvent } from "../progress.js";
import { BlockGraph } from "./graph.js";
import { opName } from "./ops.js";
import { tensorTypeInfo } from "./types.js";
import {
  blobFileValue,
  immediateValue,
  readPackedBits,
  readTensorValue,
  storesInWeightFile,
} from "./values.js";
import { functionBlocks, walkOperations } from "./walk.js";
import { validateProgram } from "./validate.js";

/** What a visitor sees of the op it is visiting. */
export interface RewriteContext {
  readonly op: Operation;
  readonly block: Block;
  readonly graph: BlockGraph;
  readonly functionName: string;
  /** Specification version of the (possibly nested) model holding the program. */
  readonly specificationVersion: number;
  /** Reads a literal value of the input model (immediate or from its weight file). */
  read(value: Value): Promise<Tensor>;
  /** Reads a mask-like literal value as bits packed least significant first (see readPackedBits). */
  readPackedBits(value: Value): Promise<Uint8Array>;
  /**
   * A value holding `tensor` for a new op: inline when coremltools would inline it, otherwise a
   * blob written to the output weight file when this op's replacement is committed (in the order
   * of these calls).
   */
  value(tensor: Tensor): Value;
  /**
   * Copies of `ops`, which an earlier visit returned: their weight-file values point at the
   * blobs that visit writes, so a weight shared between functions is stored once.
   */
  reuse(ops: readonly Operation[]): Operation[];
}

export interface Replacement {
  /** Ops taking the visited op's place (none to delete it). */
  ops: Operation[];
  /** Uses of `from` (an output of the visited op) are pointed at `to`. */
  renames?: { from: string; to: string }[];
}

export type OpVisitor = (context: RewriteContext) => Promise<Replacement | undefined>;

/** Progress of a rewrite: ops that hold or make literal tensors, and their bytes. */
export type RewriteProgress = ProgressEvent;

export interface RewriteOptions {
  /** Folder for the new weight files until the model is saved (Node; default: the OS temp folder). */
  tempDir?: string;
  /** Where the new weight files live until the model is saved (default: scratchStorage()). */
  scratch?: ScratchStorage;
  /**
   * Bytes of input weights that may be in flight at once (at least one op). The default is
   * the largest op's weights (at least 32 MiB, at most 256 MiB): smaller ops go to the cores in
   * parallel, the largest one at a time, so peak memory stays within about twice the largest
   * tensor, not a multiple of the model. Kernels that would leave cores idle on one large op
   * split it themselves (palettization's groups); the others are fast enough that reading and
   * writing dominate. Small models are in flight whole: their largest op alone would leave a
   * core idle for its whole run (mobilenet_v2's classifier under vector k-means).
   */
  memoryBudget?: number;
  onProgress?: (progress: RewriteProgress) => void;
  /** Whether an op is worth visiting; others are copied without a visit (default: all). */
  filter?: (op: Operation) => boolean;
  /** Ops without literal values to visit too (default: none), e.g. ops fed only by names. */
  alsoVisit?: (op: Operation) => boolean;
  /** Visit only the ops of this function (the others keep their ops and weights). */
  functionName?: string;
}

interface PendingBlob {
  value: Value;
  tensor: Tensor;
}

/** A value of a reused op and the value of the earlier op whose blob it shares. */
interface AliasedBlob {
  value: Value;
  source: Value;
}

/**
 * Literal tensor values of an op: a const's `val`, weight-file attributes (iOS16 constexpr ops
 * hold their parameters there), and values bound inline to its inputs.
 */
export function literalValues(op: Operation): Value[] {
  const values: Value[] = [];
  for (const [key, value] of Object.entries(op.attributes)) {
    if ((op.type === "const" && key === "val") || value.value.case === "blobFileValue") {
      values.push(value);
    }
  }
  for (const argument of Object.values(op.inputs)) {
    for (const binding of argument.arguments) {
      if (binding.binding.case === "value") values.push(binding.binding.value);
    }
  }
  return values;
}

function blobBytes(op: Operation): number {
  let bytes = 0;
  for (const value of literalValues(op)) {
    if (value.value.case !== "blobFileValue") continue;
    const info = tensorTypeInfo(value.type);
    if (info && info.shape.every((d) => d !== null)) {
      bytes += byteLength(info.dtype, elementCount(info.shape as number[]));
    }
  }
  return bytes;
}

class OutputWeights {
  private readonly writers = new Map<string, { writer: BlobFileWriter; file: ScratchFile }>();
  /** Input blob (file, offset) -> output offset, so shared blobs stay shared. */
  private readonly copied = new Map<string, number>();
  /** Written values, which reused ops may point at. */
  readonly written = new WeakSet<Value>();
  /** Output blobs by file, dtype, size and content hash, when identical blobs are stored once. */
  private readonly byContent?: Map<string, number>;

  constructor(
    private readonly input: MLModel,
    private readonly scratch: ScratchStorage,
    deduplicate: boolean,
  ) {
    if (deduplicate) this.byContent = new Map();
  }

  /** Appends a blob, or finds an identical one already written when deduplicating. */
  private async append(
    fileName: string,
    dtype: Tensor["dtype"],
    bytes: Uint8Array,
    count: number,
  ): Promise<number> {
    const writer = await this.writer(fileName);
    if (!this.byContent) return writer.append(dtype, bytes, count);
    const key = `${fileName}\u0000${dtype}\u0000${count}\u0000${contentHash(bytes)}`;
    let offset = this.byContent.get(key);
    if (offset === undefined) {
      offset = await writer.append(dtype, bytes, count);
      this.byContent.set(key, offset);
    }
    return offset;
  }

  private async writer(fileName: string): Promise<BlobFileWriter> {
    let entry = this.writers.get(fileName);
    if (!entry) {
      const file = await this.scratch.create();
      entry = { writer: await BlobFileWriter.create(file.writer), file };
      this.writers.set(fileName, entry);
    }
    return entry.writer;
  }

  async write(value: Value, tensor: Tensor, fileName: string): Promise<void> {
    const { bytes, elementCount: count } = tensorBlobBytes(tensor);
    const offset = await this.append(fileName, tensor.dtype, bytes, count);
    this.written.add(value);
    value.value = {
      case: "blobFileValue",
      value: create(Value_BlobFileValueSchema, { fileName, offset: BigInt(offset) }),
    };
  }

  /** Copies the blob a value of the input model references; points the value at the copy. */
  async copy(value: Value): Promise<void> {
    if (value.value.case !== "blobFileValue") return;
    const { fileName, offset } = value.value.value;
    const key = `${fileName}\u0000${offset}`;
    let newOffset = this.copied.get(key);
    if (newOffset === undefined) {
      const reader = await this.input.blobFile(fileName);
      const { metadata, bytes } = await reader.readData(Number(offset));
      newOffset = await this.append(fileName, metadata.dtype, bytes, metadata.elementCount);
      this.copied.set(key, newOffset);
    }
    value.value.value.offset = BigInt(newOffset);
  }

  async finish(): Promise<Map<string, WeightFileSource>> {
    const files = new Map<string, WeightFileSource>();
    for (const [fileName, { writer, file }] of this.writers) {
      await writer.finish();
      files.set(fileName, file.source);
    }
    return files;
  }

  async discard(): Promise<void> {
    for (const { writer, file } of this.writers.values()) {
      await writer.finish().catch(() => undefined);
      await file.source.discard?.();
    }
  }
}

/**
 * Visits every op of every ML program in `model` (pipelines included) and returns the
 * rewritten model. Ops the visitor leaves alone keep their weights (copied to the new files).
 */
export async function rewriteWeights(
  model: MLModel,
  visit: OpVisitor,
  options: RewriteOptions = {},
): Promise<MLModel> {
  await validateProgram(model);
  const spec = copyMessage(model.spec);
  const output = new OutputWeights(
    model,
    options.scratch ?? scratchStorage(options.tempDir),
    isMultifunction(spec),
  );
  const started: Promise<Replacement | undefined>[] = [];
  try {
    const work: { context: RewriteContext; bytes: number; visited: boolean }[] = [];
    for (const { model: nested } of modelTree(spec)) {
      if (nested.Type.case !== "mlProgram") continue;
      for (const { functionName, block: root } of functionBlocks(nested.Type.value)) {
        const graph = new BlockGraph(root);
        for (const { op, block } of walkOperations(root)) {
          const literals = literalValues(op);
          const visited =
            (options.functionName === undefined || options.functionName === functionName) &&
            ((literals.length > 0 && (options.filter?.(op) ?? true)) ||
              (options.alsoVisit?.(op) ?? false));
          if (!visited && !literals.some((v) => v.value.case === "blobFileValue")) continue;
          work.push({
            bytes: blobBytes(op),
            visited,
            context: makeContext(
              model,
              op,
              block,
              graph,
              functionName,
              nested.specificationVersion,
            ),
          });
        }
      }
    }

    const total = work.length;
    const bytesTotal = work.reduce((sum, item) => sum + item.bytes, 0);
    let bytesDone = 0;
    // Named after the op the rewrite waits on next, so a long visit shows what it is.
    const progress = (done: number) =>
      options.onProgress?.({
        done,
        total,
        name: done < total ? opName(work[done].context.op) : "",
        bytesDone,
        bytesTotal,
      });
    progress(0);
    const budget = options.memoryBudget ?? defaultBudget(work);
    let inFlight = 0;
    let next = 0;
    for (let index = 0; index < total; index++) {
      // Start visits ahead of the commit point while the memory budget allows.
      while (next < total && (next === index || inFlight + work[next].bytes <= budget)) {
        const item = work[next];
        inFlight += item.bytes;
        const visiting = item.visited ? visit(item.context) : Promise.resolve(undefined);
        // Awaited in order below; a visit failing before its turn is not an unhandled rejection.
        visiting.catch(() => undefined);
        started[next++] = visiting;
      }
      const item = work[index];
      await commit(item.context, await started[index], output);
      delete started[index];
      inFlight -= item.bytes;
      bytesDone += item.bytes;
      progress(index + 1);
    }
    const files = await output.finish();
    return model.derive(spec, files);
  } catch (error) {
    await output.discard();
    throw error;
  }
}

/**
 * Whether any ML program of the model has several functions: their weights are often the same
 * tensors (prefill and decode, adapters over one base), so identical blobs are stored once.
 * Single-function models are written blob for blob, as coremltools writes them.
 */
function isMultifunction(spec: Model): boolean {
  return [...modelTree(spec)].some(
    ({ model }) =>
      model.Type.case === "mlProgram" && Object.keys(model.Type.value.functions).length > 1,
  );
}

const MINIMUM_DEFAULT_BUDGET = 32 * 1024 * 1024;
const MAXIMUM_DEFAULT_BUDGET = 256 * 1024 * 1024;

function defaultBudget(work: readonly { bytes: number }[]): number {
  const largest = work.reduce((max, item) => Math.max(max, item.bytes), 0);
  return Math.min(Math.max(largest, MINIMUM_DEFAULT_BUDGET), MAXIMUM_DEFAULT_BUDGET);
}

/** Blobs a visit asked for, written when its replacement is committed. */
const PENDING = new WeakMap<RewriteContext, PendingBlob[]>();
/** Blobs of reused ops, pointed at the earlier ops' blobs when the replacement is committed. */
const ALIASES = new WeakMap<RewriteContext, AliasedBlob[]>();

function makeContext(
  model: MLModel,
  op: Operation,
  block: Block,
  graph: BlockGraph,
  functionName: string,
  specificationVersion: number,
): RewriteContext {
  const pending: PendingBlob[] = [];
  const aliases: AliasedBlob[] = [];
  const context: RewriteContext = {
    op,
    block,
    graph,
    functionName,
    specificationVersion,
    read: (value) => readTensorValue(value, model, `op ${opName(op)}`),
    readPackedBits: (value) => readPackedBits(value, model, `op ${opName(op)}`),
    value(tensor) {
      if (!storesInWeightFile(tensor.dtype, elementCount(tensor.shape), specificationVersion)) {
        return immediateValue(tensor);
      }
      const value = blobFileValue(tensor.dtype, tensor.shape, DEFAULT_WEIGHT_FILE, 0);
      pending.push({ value, tensor });
      return value;
    },
    reuse(ops) {
      return ops.map((op) => {
        const copy = clone(OperationSchema, op);
        const sources = literalValues(op);
        literalValues(copy).forEach((value, index) => {
          if (value.value.case === "blobFileValue") aliases.push({ value, source: sources[index] });
        });
        return copy;
      });
    },
  };
  PENDING.set(context, pending);
  ALIASES.set(context, aliases);
  return context;
}

async function commit(
  context: RewriteContext,
  replacement: Replacement | undefined,
  output: OutputWeights,
): Promise<void> {
  // Taken out of the context, which lives until the rewrite ends: its tensors must not.
  const pending = PENDING.get(context)?.splice(0) ?? [];
  const aliases = ALIASES.get(context)?.splice(0) ?? [];
  const { op, block, graph } = context;
  if (!replacement) {
    for (const value of literalValues(op)) await output.copy(value);
    return;
  }
  const fresh = new Set([...pending, ...aliases].map((p) => p.value));
  const fileName = literalValues(op).find((v) => v.value.case === "blobFileValue");
  const target =
    fileName?.value.case === "blobFileValue" ? fileName.value.value.fileName : DEFAULT_WEIGHT_FILE;
  for (const { value, tensor } of pending) await output.write(value, tensor, target);
  for (const { value, source } of aliases) {
    // Visits commit in program order, so the reused op's blob is written by now.
    if (!output.written.has(source)) {
      throw new Error(`op ${opName(op)} reuses a blob that no earlier op wrote`);
    }
    value.value = clone(ValueSchema, source).value;
  }
  for (const newOp of replacement.ops) {
    for (const value of literalValues(newOp)) if (!fresh.has(value)) await output.copy(value);
  }
  graph.replace(block, op, replacement.ops);
  for (const { from, to } of replacement.renames ?? []) graph.renameUses(from, to);
}
