/**
 * How far each weight of a compressed model is from the same weight of its source, however
 * many compressions lie between them (`compress` reports end to end, not step against step).
 * Weights are matched by what reads them (the ops and inputs they feed), since compression
 * renames the values holding them; each pair is read, compared and released in turn, so only
 * one weight of each model is in memory at a time.
 */
import type { Operation, Value } from "../format/gen/MIL_pb.js";
import type { MLModel } from "../format/ml-model.js";
import { UnsupportedError } from "../errors.js";
import { byteLength, elementCount, ELEMENT_TYPES, type Tensor } from "../kernels/dtype.js";
import { snrDb } from "../kernels/snr.js";
import { numericValues } from "../kernels/values.js";
import { evaluateConstexpr, isConstexprOp, parameterBindings } from "../program/constexpr.js";
import { BlockGraph } from "../program/graph.js";
import { constValue, opName } from "../program/ops.js";
import { tensorTypeInfo } from "../program/types.js";
import { readTensorValue } from "../program/values.js";
import { functionBlocks } from "../program/walk.js";

/** A weight as the program uses it: the name holding it, in the function's graph. */
interface WeightSite {
  name: string;
  functionName: string;
  graph: BlockGraph;
}

/** What reads a value: the same in a model and its compressed form. */
function readersKey(functionName: string, name: string, graph: BlockGraph): string {
  const uses = graph.consumers(name).flatMap((op: Operation) =>
    Object.entries(op.inputs)
      .filter(([, argument]) =>
        argument.arguments.some((a) => a.binding.case === "name" && a.binding.value === name),
      )
      .map(([input]) => `${opName(op)}.${input}`),
  );
  return `${functionName}:${uses.sort().join(",")}`;
}

/**
 * Every float weight of a model's program (a const, or the last op of a compressed weight's
 * chain) that some other op reads, by readers key.
 */
function weightSites(model: MLModel): Map<string, WeightSite> {
  const sites = new Map<string, WeightSite>();
  if (model.spec.Type.case !== "mlProgram") return sites;
  for (const { functionName, block } of functionBlocks(model.spec.Type.value)) {
    const graph = new BlockGraph(block);
    for (const op of block.operations) {
      if (op.type !== "const" && !isConstexprOp(op.type)) continue;
      for (const output of op.outputs) {
        const info = tensorTypeInfo(output.type);
        if (!info || ELEMENT_TYPES[info.dtype].kind !== "float") continue;
        const consumers = graph.consumers(output.name);
        if (consumers.length === 0 || consumers.some((c) => isConstexprOp(c.type))) continue;
        const key = readersKey(functionName, output.name, graph);
        if (!sites.has(key)) sites.set(key, { name: output.name, functionName, graph });
      }
    }
  }
  return sites;
}

/** A weight's value and the bytes its stored form takes (every literal of its chain). */
interface WeightValue {
  tensor: Tensor;
  storedBytes: number;
}

function literalBytes(value: Value): number {
  const info = tensorTypeInfo(value.type);
  if (!info || info.shape.includes(null)) return 0;
  return byteLength(info.dtype, elementCount(info.shape as number[]));
}

/** The value of `name`: a const read, or a compressed weight's chain evaluated. */
async function valueOf(model: MLModel, graph: BlockGraph, name: string): Promise<WeightValue> {
  const producer = graph.producer(name);
  if (!producer) throw new UnsupportedError(`value ${name} has no producer`);
  const { op, output } = producer;
  const label = `op ${op.type} "${opName(op)}"`;
  const value = constValue(op);
  if (value)
    return { tensor: await readTensorValue(value, model, label), storedBytes: literalBytes(value) };
  const inputs: Record<string, Tensor> = {};
  let storedBytes = 0;
  for (const [key, binding] of parameterBindings(op)) {
    if (typeof binding === "string") {
      const parameter = await valueOf(model, graph, binding);
      inputs[key] = parameter.tensor;
      storedBytes += parameter.storedBytes;
    } else {
      inputs[key] = await readTensorValue(binding, model, label);
      storedBytes += literalBytes(binding);
    }
  }
  return { tensor: evaluateConstexpr(op.type, inputs, label)[output], storedBytes };
}

export interface WeightError {
  /** The weight's name in the compressed model. */
  name: string;
  /** Its name in the source model. */
  sourceName: string;
  functionName: string;
  snrDb: number;
  /** Bytes of the weight as stored in the source, and in the compressed model. */
  sourceBytes: number;
  storedBytes: number;
}

/**
 * The SNR of every weight of `candidate` against the same weight of `reference` (matched by the
 * ops reading them), for the weights named in `names` (all when absent).
 */
export async function weightErrors(
  reference: MLModel,
  candidate: MLModel,
  names?: ReadonlySet<string>,
): Promise<WeightError[]> {
  const sources = weightSites(reference);
  const errors: WeightError[] = [];
  for (const [key, site] of weightSites(candidate)) {
    const source = sources.get(key);
    if (!source || (names && !names.has(site.name) && !names.has(source.name))) continue;
    const before = await valueOf(reference, source.graph, source.name);
    const after = await valueOf(candidate, site.graph, site.name);
    const [x, y] = [numericValues(before.tensor), numericValues(after.tensor)];
    if (x.length !== y.length) continue;
    let signal = 0;
    let noise = 0;
    for (let i = 0; i < x.length; i++) {
      signal += x[i] * x[i];
      noise += (x[i] - y[i]) ** 2;
    }
    errors.push({
      name: site.name,
      sourceName: source.name,
      functionName: site.functionName,
      snrDb: snrDb(signal, noise),
      sourceBytes: before.storedBytes,
      storedBytes: after.storedBytes,
    });
  }
  return errors;
}
