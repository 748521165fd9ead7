/** Walking the functions, blocks (nested ones too) and operations of a MIL program. */
import type { Block, Operation, Program } from "../format/gen/MIL_pb.js";

/** The root block of one function, for one opset it is specialized for. */
export interface FunctionBlock {
  functionName: string;
  opset: string;
  block: Block;
}

/** Every (function, specialization) root block of a program; the default opset first. */
export function* functionBlocks(program: Program): Generator<FunctionBlock> {
  for (const [functionName, fn] of Object.entries(program.functions)) {
    const opsets = Object.keys(fn.blockSpecializations).sort((a, b) =>
      a === fn.opset ? -1 : b === fn.opset ? 1 : a.localeCompare(b),
    );
    for (const opset of opsets) {
      yield { functionName, opset, block: fn.blockSpecializations[opset] };
    }
  }
}

export interface OperationSite {
  op: Operation;
  /** The block whose `operations` holds `op`. */
  block: Block;
}

/** Every op in `block` and, depth first, in the blocks nested in its ops. */
export function* walkOperations(block: Block): Generator<OperationSite> {
  for (const op of block.operations) {
    yield { op, block };
    for (const nested of op.blocks) yield* walkOperations(nested);
  }
}

/** Every op of every function of a program. */
export function* allOperations(program: Program): Generator<OperationSite & FunctionBlock> {
  for (const root of functionBlocks(program)) {
    for (const site of walkOperations(root.block)) yield { ...root, ...site };
  }
}
