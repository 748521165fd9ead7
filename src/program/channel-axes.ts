/**
 * Which axes of a weight are its output and input channels, as the ops consuming it use it:
 * conv and linear weights are [out, in, ...], conv_transpose [in, out, ...], and a matmul's
 * operand follows its transpose flags. Compressions group, block and scale along these axes.
 */
import type { Operation, Value } from "../format/gen/MIL_pb.js";
import type { BlockGraph } from "./graph.js";
import { constValue, inputNames, inputValues, opName } from "./ops.js";
import { decodeImmediateTensor } from "./values.js";

export interface ChannelAxes {
  /** Undefined when the consumers disagree. */
  output: number | undefined;
  input: number | undefined;
}

/** The literal bool bound to an op input (inline or through a const op). */
function boolInput(op: Operation, input: string, graph: BlockGraph): boolean {
  let value: Value | undefined = inputValues(op, input)[0];
  const name = inputNames(op, input)[0];
  if (!value && name) {
    const producer = graph.producer(name)?.op;
    value = producer ? constValue(producer) : undefined;
  }
  if (value?.value.case !== "immediateValue" || value.value.value.value.case !== "tensor") {
    return false;
  }
  const tensor = decodeImmediateTensor("bool", [], value.value.value.value.value, opName(op));
  return (tensor.data as Uint8Array)[0] !== 0;
}

/** [output axis, input axis] of a weight of `rank` as `consumer` uses it. */
function consumerAxes(
  consumer: Operation,
  weight: string,
  rank: number,
  graph: BlockGraph,
): [number, number] {
  let axes: [number, number] = [0, 1];
  if (consumer.type === "conv_transpose") axes = [1, 0];
  else if (consumer.type === "matmul") {
    if (inputNames(consumer, "y").includes(weight)) {
      axes = boolInput(consumer, "transpose_y", graph) ? [-2, -1] : [-1, -2];
    } else {
      axes = boolInput(consumer, "transpose_x", graph) ? [-1, -2] : [-2, -1];
    }
  }
  return axes.map((a) => (a < 0 ? a + rank : a)) as [number, number];
}

/** The channel axes of the weight `weight` (of `rank`) as all of `consumers` use it. */
export function channelAxes(
  consumers: readonly Operation[],
  weight: string,
  rank: number,
  graph: BlockGraph,
): ChannelAxes {
  const outputs = new Set<number>();
  const inputs = new Set<number>();
  for (const consumer of consumers) {
    const [output, input] = consumerAxes(consumer, weight, rank, graph);
    outputs.add(output);
    inputs.add(input);
  }
  const pick = (set: Set<number>, fallback: number) =>
    set.size > 1 ? undefined : set.size === 1 ? [...set][0] : fallback;
  return { output: pick(outputs, 0), input: pick(inputs, 1) };
}
