/**
 * Weights shared between the functions of a multifunction model (prefill and decode, adapters
 * over one base): the same blob, or blobs with identical bytes. The first function to reach
 * such a weight (in program order) compresses it; the others reuse its ops, which point at the
 * same blobs, so the weight is compressed once and stored once. Every consumer must want the
 * same config: a conflict is an error naming both ops.
 */
import type { Operation } from "../format/gen/MIL_pb.js";
import { describeConfig, sameConfig, type OpConfig } from "../config/optimization-config.js";
import { ConfigError } from "../errors.js";
import type { Tensor } from "../kernels/dtype.js";
import { contentHash } from "../kernels/hash.js";
import { constValue, opName } from "../program/ops.js";
import { stringValue } from "../program/values.js";
import type { CompressedWeight } from "./driver.js";

/** The first occurrence of a shared weight. */
export interface SharedWeight {
  functionName: string;
  name: string;
  /** The const's output, which the compressed ops' names start from. */
  output: string;
  consumers: readonly Operation[];
  config: OpConfig;
  /** What the compression made of it (ops or a reason to leave it alone). */
  result: Promise<CompressedWeight | { skipped: string }>;
  /** The keys it was found under: a second occurrence found by blob stores nothing new. */
  keys: readonly string[];
}

/** A weight a visit is about to compress, as the sharing sees it. */
export interface SharingCandidate {
  functionName: string;
  name: string;
  output: string;
  consumers: readonly Operation[];
  config: OpConfig;
  op: Operation;
  tensor: Tensor;
}

/** A visit's place in program order: it finds or registers its weight after those before it. */
export interface SharingTicket {
  /**
   * The earlier occurrence of the weight, or undefined after registering this one as the first
   * (then `settle` must be called with its result).
   */
  claim(candidate: SharingCandidate): Promise<SharedWeight | undefined>;
  settle(result: Promise<CompressedWeight | { skipped: string }>): void;
  /** Lets later visits claim (always call it when the visit ends). */
  release(): void;
}

/** The keys a weight is shared under: its blob, and (identical bytes) its content. */
function sharingKeys(op: Operation, tensor: Tensor): string[] {
  const keys: string[] = [];
  const value = constValue(op)?.value;
  if (value?.case === "blobFileValue") {
    keys.push(`blob\u0000${value.value.fileName}\u0000${value.value.offset}`);
  }
  const data = tensor.data as ArrayBufferView;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  keys.push(
    `content\u0000${tensor.dtype}\u0000${tensor.shape.join(",")}\u0000${contentHash(bytes)}`,
  );
  return keys;
}

function describe(functionName: string, name: string, consumers: readonly Operation[]): string {
  const users = consumers.map(opName).join(", ") || "no op";
  return `${functionName}/${name} (read by ${users})`;
}

export class WeightSharing {
  private readonly weights = new Map<string, SharedWeight>();
  private turn: Promise<void> = Promise.resolve();

  /** A ticket for the next visit, in program order (call synchronously as visits start). */
  ticket(): SharingTicket {
    const previous = this.turn;
    let release!: () => void;
    this.turn = new Promise((resolve) => (release = resolve));
    let registered: ((result: SharedWeight["result"]) => void) | undefined;
    return {
      claim: async (candidate) => {
        const keys = sharingKeys(candidate.op, candidate.tensor);
        await previous;
        const first = keys.map((key) => this.weights.get(key)).find((w) => w !== undefined);
        if (first) {
          if (!sameConfig(first.config, candidate.config)) {
            throw new ConfigError(
              `${describe(first.functionName, first.name, first.consumers)} and ` +
                `${describe(candidate.functionName, candidate.name, candidate.consumers)} ` +
                `share one weight but get different configs (${describeConfig(first.config)} and ` +
                `${describeConfig(candidate.config)}): give both the same config`,
            );
          }
          for (const key of keys) if (!this.weights.has(key)) this.weights.set(key, first);
          return first;
        }
        let settle!: (result: SharedWeight["result"]) => void;
        const result = new Promise<Awaited<SharedWeight["result"]>>(
          (resolve, reject) => (settle = (r) => r.then(resolve, reject)),
        );
        // A failure surfaces through the visit that compresses; reusers see it too.
        result.catch(() => undefined);
        const weight: SharedWeight = { ...candidate, result, keys };
        for (const key of keys) this.weights.set(key, weight);
        registered = settle;
        return undefined;
      },
      settle: (result) => registered?.(result),
      release: () => release(),
    };
  }
}

/** Whether a reused weight was the same blob in the input (so it took no extra bytes before either). */
export function sameBlob(first: SharedWeight, op: Operation): boolean {
  const value = constValue(op)?.value;
  if (value?.case !== "blobFileValue") return false;
  return first.keys.includes(`blob\u0000${value.value.fileName}\u0000${value.value.offset}`);
}

/**
 * Renames reused ops for the function that reuses them: names starting with the first
 * occurrence's output name start with this one's instead (the others get it as a prefix).
 */
export function renameReused(ops: Operation[], from: string, to: string): Operation[] {
  if (from === to) return ops;
  const rename = (name: string) =>
    name.startsWith(from) ? to + name.slice(from.length) : `${to}_${name}`;
  const produced = new Set(ops.flatMap((op) => op.outputs.map((o) => o.name)));
  for (const op of ops) {
    op.attributes.name = stringValue(rename(opName(op)));
    for (const output of op.outputs) output.name = rename(output.name);
    for (const argument of Object.values(op.inputs)) {
      for (const { binding } of argument.arguments) {
        if (binding.case === "name" && produced.has(binding.value)) {
          binding.value = rename(binding.value);
        }
      }
    }
  }
  return ops;
}
