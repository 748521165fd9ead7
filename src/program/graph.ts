/**
 * Def-use index of one function block (and the blocks nested in it): which op produces each
 * value name and where each name is used, so passes can find a weight's consumers and rewire
 * them when they replace an op.
 */
import type { Block, Operation } from "../format/gen/MIL_pb.js";
import { walkOperations } from "./walk.js";

export type Use =
  | { kind: "op"; op: Operation; block: Block; input: string; index: number }
  | { kind: "blockOutput"; block: Block; index: number };

export interface Producer {
  op: Operation;
  block: Block;
  /** Position among the op's outputs. */
  output: number;
}

export class BlockGraph {
  private readonly producers = new Map<string, Producer>();
  private readonly uses = new Map<string, Use[]>();

  constructor(readonly root: Block) {
    this.indexBlock(root);
  }

  private indexBlock(block: Block): void {
    for (const { op, block: owner } of walkOperations(block)) this.indexOperation(op, owner);
    this.indexBlockOutputs(block);
  }

  private indexBlockOutputs(block: Block): void {
    block.outputs.forEach((name, index) =>
      this.addUse(name, { kind: "blockOutput", block, index }),
    );
    for (const op of block.operations)
      for (const nested of op.blocks) this.indexBlockOutputs(nested);
  }

  private indexOperation(op: Operation, block: Block): void {
    op.outputs.forEach((output, index) => {
      this.producers.set(output.name, { op, block, output: index });
    });
    for (const [input, argument] of Object.entries(op.inputs)) {
      argument.arguments.forEach((binding, index) => {
        if (binding.binding.case === "name") {
          this.addUse(binding.binding.value, { kind: "op", op, block, input, index });
        }
      });
    }
  }

  private addUse(name: string, use: Use): void {
    const list = this.uses.get(name);
    if (list) list.push(use);
    else this.uses.set(name, [use]);
  }

  private removeUsesBy(op: Operation): void {
    for (const argument of Object.values(op.inputs)) {
      for (const binding of argument.arguments) {
        if (binding.binding.case !== "name") continue;
        const list = this.uses.get(binding.binding.value);
        if (!list) continue;
        const kept = list.filter((u) => u.kind !== "op" || u.op !== op);
        if (kept.length) this.uses.set(binding.binding.value, kept);
        else this.uses.delete(binding.binding.value);
      }
    }
  }

  producer(name: string): Producer | undefined {
    return this.producers.get(name);
  }

  usesOf(name: string): readonly Use[] {
    return this.uses.get(name) ?? [];
  }

  /** The distinct ops that read `name` (block outputs excluded). */
  consumers(name: string): Operation[] {
    const ops = new Set<Operation>();
    for (const use of this.usesOf(name)) if (use.kind === "op") ops.add(use.op);
    return [...ops];
  }

  /** Points every use of `from` at `to` instead. */
  renameUses(from: string, to: string): void {
    const list = this.uses.get(from);
    if (!list) return;
    for (const use of list) {
      if (use.kind === "op") {
        use.op.inputs[use.input].arguments[use.index].binding = { case: "name", value: to };
      } else {
        use.block.outputs[use.index] = to;
      }
      this.addUse(to, use);
    }
    this.uses.delete(from);
  }

  /**
   * Replaces `op` (in `block`) by `replacement`, in its place. Uses of the old op's outputs
   * are left as they are: give a replacement op the same output name, or call `renameUses`.
   */
  replace(block: Block, op: Operation, replacement: Operation[]): void {
    const index = block.operations.indexOf(op);
    if (index < 0) throw new Error("operation is not in the given block");
    block.operations.splice(index, 1, ...replacement);
    this.removeUsesBy(op);
    for (const output of op.outputs) {
      if (this.producers.get(output.name)?.op === op) this.producers.delete(output.name);
    }
    for (const added of replacement) this.indexOperation(added, block);
  }

  /** Removes an op whose outputs are no longer used. */
  remove(block: Block, op: Operation): void {
    this.replace(block, op, []);
  }

  /** Whether any output of `op` is still used. */
  isUsed(op: Operation): boolean {
    return op.outputs.some((o) => this.usesOf(o.name).length > 0);
  }
}
