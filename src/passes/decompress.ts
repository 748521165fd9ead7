/**
 * Decompression: every compile-time (`constexpr_*`) op, chains of them included, becomes a
 * dense `const` with the same output name and type, so the model holds plain weights again.
 * Ops and consts that only fed constexpr ops are removed. Neural networks are left as they are.
 */
import type { Operation } from "../format/gen/MIL_pb.js";
import { checkFunctionName } from "./driver.js";
import { decompressNeuralNetwork, hasNeuralNetwork } from "./neural-decompress.js";
import type { MLModel } from "../format/model.js";
import { byteLength, elementCount, type Tensor } from "../kernels/dtype.js";
import { BlockGraph } from "../program/graph.js";
import { constValue, makeConstOperation, opName } from "../program/ops.js";
import {
  rewriteWeights,
  type RewriteContext,
  type RewriteOptions,
  type Replacement,
} from "../program/rewriter.js";
import { formatType, tensorTypeInfo } from "../program/types.js";
import { FormatError, UnsupportedError } from "../errors.js";
import { evaluateConstexpr, isConstexprOp, parameterBindings } from "../program/constexpr.js";

export interface DecompressedOp {
  name: string;
  /** The constexpr op type (or, for neural networks, how the layer stored the weight). */
  type: string;
  shape: readonly number[];
  /** Bytes of the op's parameters, and of the dense weight it became. */
  bytesBefore: number;
  bytesAfter: number;
  /** Whether other ops read it (the last op of a chain), not only further constexpr ops. */
  weight: boolean;
}

export interface DecompressOptions extends Pick<
  RewriteOptions,
  "tempDir" | "memoryBudget" | "onProgress" | "functionName"
> {
  /** Called for every constexpr op evaluated (visits overlap, so not necessarily in program order). */
  onDecompressed?: (op: DecompressedOp) => void;
}

/** A value other constexpr ops will read, and how many of their uses are still to come. */
interface Shared {
  tensor: Promise<Tensor>;
  remaining: number;
}

function constexprUseCount(graph: BlockGraph, name: string): number {
  return graph.usesOf(name).filter((use) => use.kind === "op" && isConstexprOp(use.op.type)).length;
}

/** Whether anything but a constexpr op (another op, a block output) reads `name`. */
function hasDenseUse(graph: BlockGraph, name: string): boolean {
  return graph.usesOf(name).some((use) => use.kind !== "op" || !isConstexprOp(use.op.type));
}

export async function decompressWeights(
  model: MLModel,
  options: DecompressOptions = {},
): Promise<MLModel> {
  checkFunctionName(model, options.functionName);
  if (hasNeuralNetwork(model)) model = await decompressNeuralNetwork(model, options.onDecompressed);
  const sharedByGraph = new WeakMap<BlockGraph, Map<string, Shared>>();
  const sharedOf = (graph: BlockGraph) => {
    let shared = sharedByGraph.get(graph);
    if (!shared) sharedByGraph.set(graph, (shared = new Map()));
    return shared;
  };

  /** Makes `tensor` available to the `uses` constexpr ops that read `name`. */
  const share = (graph: BlockGraph, name: string, tensor: Promise<Tensor>, uses: number) => {
    // Failures surface through the visit that computes the tensor; waiting readers see them too.
    tensor.catch(() => undefined);
    sharedOf(graph).set(name, { tensor, remaining: uses });
  };

  const take = (graph: BlockGraph, name: string, context: string): Promise<Tensor> => {
    const shared = sharedOf(graph);
    const entry = shared.get(name);
    if (!entry) {
      throw new UnsupportedError(`${context}: parameter ${name} is not a constant`);
    }
    if (--entry.remaining === 0) shared.delete(name);
    return entry.tensor;
  };

  const evaluate = async (context: RewriteContext, label: string): Promise<Tensor[]> => {
    const { op, graph } = context;
    // Claim named parameters now, before later visits could run.
    const pending = parameterBindings(op).map(
      ([key, binding]) =>
        [
          key,
          typeof binding === "string" ? take(graph, binding, label) : context.read(binding),
        ] as const,
    );
    const tensors = await Promise.all(pending.map(([, tensor]) => tensor));
    const inputs: Record<string, Tensor> = {};
    pending.forEach(([key], index) => (inputs[key] = tensors[index]));
    const outputs = evaluateConstexpr(op.type, inputs, label);
    if (outputs.length !== op.outputs.length) {
      throw new FormatError(
        label,
        `${op.type} has ${op.outputs.length} outputs, expected ${outputs.length}`,
      );
    }
    op.outputs.forEach((output, index) => {
      const declared = tensorTypeInfo(output.type);
      const computed = { dtype: outputs[index].dtype, shape: [...outputs[index].shape] };
      if (!declared || formatType(declared) !== formatType(computed)) {
        throw new FormatError(
          label,
          `output ${output.name} is declared ${declared ? formatType(declared) : "not a tensor"} but computes ${formatType(computed)}`,
        );
      }
    });
    const bytes = (t: Tensor) => byteLength(t.dtype, elementCount(t.shape));
    const last = outputs[outputs.length - 1];
    options.onDecompressed?.({
      name: opName(op),
      type: op.type,
      shape: last.shape,
      bytesBefore: tensors.reduce((sum, t) => sum + bytes(t), 0),
      bytesAfter: bytes(last),
      weight: op.outputs.some((o) => hasDenseUse(graph, o.name)),
    });
    return outputs;
  };

  const visit = async (context: RewriteContext): Promise<Replacement | undefined> => {
    const { op, graph } = context;
    const label = `op ${opName(op)}`;
    if (op.type === "const") {
      const name = op.outputs[0]?.name ?? "";
      const uses = constexprUseCount(graph, name);
      if (uses === 0) return undefined;
      const tensor = context.read(constValue(op)!);
      share(graph, name, tensor, uses);
      // Read before the rewriter copies (and re-points) a const it keeps.
      await tensor;
      return hasDenseUse(graph, name) ? undefined : { ops: [] };
    }
    if (!isConstexprOp(op.type)) return undefined;

    const evaluation = evaluate(context, label);
    op.outputs.forEach((output, index) => {
      const uses = constexprUseCount(graph, output.name);
      if (uses > 0)
        share(
          graph,
          output.name,
          evaluation.then((t) => t[index]),
          uses,
        );
    });
    const outputs = await evaluation;
    const ops: Operation[] = [];
    op.outputs.forEach((output, index) => {
      if (hasDenseUse(graph, output.name)) {
        ops.push(makeConstOperation(output.name, context.value(outputs[index])));
      }
    });
    return { ops };
  };

  return rewriteWeights(model, visit, {
    tempDir: options.tempDir,
    memoryBudget: options.memoryBudget,
    onProgress: options.onProgress,
    functionName: options.functionName,
    alsoVisit: (op) => isConstexprOp(op.type),
  });
}
