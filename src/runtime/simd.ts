/**
 * What the interpreter's fast kernels share for one program: the process's SIMD heap and the
 * team of threads for its pool, the program's weights packed once for the kernels, and the
 * arena its values live in while a prediction runs. Values made by the fast kernels are blocks
 * of the heap, counted by the values (and list items) that hold them; the interpreter gives a
 * value back once no later op reads it, and its block returns to the heap's free list for the
 * next op of the same size, so a program run again with the same shapes allocates nothing.
 */
import { SimdHeap } from "../kernels/simd/heap.js";
import { SimdTeam } from "../kernels/simd/team.js";
import "../kernels/simd/task.js";
import type { TaskPool } from "../parallel/task-pool.js";
import type { RuntimeValue } from "./value.js";

let processHeap: SimdHeap | null | undefined;

/** The process's heap (made on first use), or undefined where the kernels cannot run. */
function heap(): SimdHeap | undefined {
  if (processHeap === undefined) processHeap = SimdHeap.create() ?? null;
  return processHeap ?? undefined;
}

/** One team per pool (and one without): teams hold a control block in the heap. */
const teams = new WeakMap<object, SimdTeam>();
const NO_POOL = {};

/** Packed weights of programs no longer reachable go back to the heap. */
const packedBlocks = new FinalizationRegistry<{ heap: SimdHeap; blocks: number[] }>(
  ({ heap, blocks }) => blocks.forEach((block) => heap.release(block)),
);

export class SimdRuntime {
  /** Weights packed for the kernels, by the constant they came from and how. */
  private readonly packed = new Map<Float32Array, Map<string, number>>();
  private readonly blocks: number[] = [];
  /** Heap blocks holding values of the running prediction: how many values hold each. */
  private readonly holders = new Map<Float32Array, number>();
  /** Blocks made during the running op, given back when it ends unless an output holds them. */
  private readonly temporaries: Float32Array[] = [];

  private constructor(
    readonly heap: SimdHeap,
    readonly team: SimdTeam,
  ) {}

  /** The fast kernels for a program run with `pool`; undefined where they cannot run. */
  static create(owner: object, pool?: TaskPool): SimdRuntime | undefined {
    const shared = heap();
    if (!shared) return undefined;
    const key = pool ?? NO_POOL;
    let team = teams.get(key);
    if (!team) teams.set(key, (team = new SimdTeam(shared, pool)));
    team.start();
    const runtime = new SimdRuntime(shared, team);
    packedBlocks.register(owner, { heap: shared, blocks: runtime.blocks });
    return runtime;
  }

  /** A block for an op's output of `length` floats (kept once a value holds it). */
  output(length: number): Float32Array {
    const block = this.heap.allocateFloats(length);
    this.holders.set(block, 0);
    this.temporaries.push(block);
    return block;
  }

  /** Scratch of `length` floats for the running op only. */
  scratch(length: number): Float32Array {
    const block = this.heap.allocateFloats(length);
    this.temporaries.push(block);
    return block;
  }

  /** `data` where the kernels can read it: itself if in the heap, else a scratch copy. */
  input(data: Float32Array): Float32Array {
    if (this.heap.holds(data)) return data;
    const copy = this.scratch(data.length);
    copy.set(data);
    return copy;
  }

  /**
   * A constant's packed form (`bytes` long, made by `pack` at its byte offset), made on first
   * use and kept as long as the program.
   */
  weights(constant: Float32Array, how: string, bytes: number, pack: (at: number) => void): number {
    let forms = this.packed.get(constant);
    if (!forms) this.packed.set(constant, (forms = new Map()));
    let at = forms.get(how);
    if (at === undefined) {
      at = this.keep(bytes);
      pack(at);
      forms.set(how, at);
    }
    return at;
  }

  /** A block of `bytes` kept as long as the program (or until `forget`). */
  keep(bytes: number): number {
    const at = this.heap.allocate(bytes, false);
    this.blocks.push(at);
    return at;
  }

  /** Gives back a block from `keep`. */
  forget(at: number): void {
    this.blocks.splice(this.blocks.indexOf(at), 1);
    this.heap.release(at);
  }

  /** A constant copied into the heap as it is. */
  constant(values: Float32Array): number {
    return this.weights(values, "copy", values.length * 4, (at) =>
      this.heap.floats(at, values.length).set(values),
    );
  }

  /** Ends an op: its scratch goes back, and outputs no value holds. */
  endOp(): void {
    for (const block of this.temporaries) {
      if (!this.holders.get(block)) {
        this.holders.delete(block);
        this.heap.release(block.byteOffset);
      }
    }
    this.temporaries.length = 0;
  }

  /** A value now held in the program's scope. */
  hold(value: RuntimeValue): void {
    this.count(value, 1);
  }

  /** A value no longer held: blocks no value holds go back to the heap. */
  drop(value: RuntimeValue): void {
    this.count(value, -1);
  }

  private count(value: RuntimeValue, step: number): void {
    if (value.dtype === "list") {
      for (const item of value.data) if (item) this.count(item, step);
      return;
    }
    const data = value.data;
    if (!(data instanceof Float32Array)) return;
    const held = this.holders.get(data);
    if (held === undefined) return;
    if (held + step > 0) this.holders.set(data, held + step);
    else {
      this.holders.delete(data);
      this.heap.release(data.byteOffset);
    }
  }

  /** After a prediction (or its failure): every block it still holds goes back. */
  endPrediction(): void {
    this.temporaries.length = 0;
    for (const block of this.holders.keys()) this.heap.release(block.byteOffset);
    this.holders.clear();
  }
}
