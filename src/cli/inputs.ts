/** Input tensors for the run commands: `--input name=file.npy` options, else seeded random data. */
import { readdir } from "node:fs/promises";
import { readRegularFile } from "../format/user-files.js";
import { join } from "node:path";
import { ConfigError } from "../errors.js";
import { readNpy } from "../format/npy.js";
import { ELEMENT_TYPES, elementCount, type Tensor } from "../kernels/dtype.js";
import type { ProgramIO } from "../runtime/interpreter.js";
import { randomSamples } from "../runtime/inputs.js";
import type { Command } from "commander";
import { collect, parseInteger } from "./flags.js";

/** Reads `name=file.npy` assignments into one sample; every program input must be given. */
async function readInputAssignments(
  assignments: readonly string[],
  inputs: readonly ProgramIO[],
): Promise<Record<string, Tensor>> {
  const sample: Record<string, Tensor> = {};
  for (const assignment of assignments) {
    const at = assignment.indexOf("=");
    if (at <= 0) throw new ConfigError(`--input "${assignment}": expected name=file.npy`);
    const name = assignment.slice(0, at);
    const file = assignment.slice(at + 1);
    if (!inputs.some((i) => i.name === name)) {
      throw new ConfigError(
        `--input ${name}: the model has no such input (inputs: ${inputs.map((i) => i.name).join(", ")})`,
      );
    }
    sample[name] = readNpy(await readRegularFile(file), file);
  }
  const missing = inputs.filter((i) => !sample[i.name]).map((i) => i.name);
  if (missing.length > 0) throw new ConfigError(`no --input given for ${missing.join(", ")}`);
  return sample;
}

/**
 * `--state name=file.npy` assignments: the initial values of a stateful model's states (the
 * others start at zero).
 */
export async function readStateAssignments(
  assignments: readonly string[],
  states: readonly ProgramIO[],
): Promise<Record<string, Tensor>> {
  const values: Record<string, Tensor> = {};
  for (const assignment of assignments) {
    const at = assignment.indexOf("=");
    if (at <= 0) throw new ConfigError(`--state "${assignment}": expected name=file.npy`);
    const name = assignment.slice(0, at);
    const file = assignment.slice(at + 1);
    if (!states.some((s) => s.name === name)) {
      throw new ConfigError(
        `--state ${name}: the model has no such state (states: ${states.map((s) => s.name).join(", ") || "none"})`,
      );
    }
    values[name] = readNpy(await readRegularFile(file), file);
  }
  return values;
}

/** The samples to run: the user's one sample when inputs are given, else `count` random ones. */
export async function samplesFor(
  assignments: readonly string[],
  inputs: readonly ProgramIO[],
  count: number,
  seed: number,
): Promise<Record<string, Tensor>[]> {
  if (assignments.length > 0) return [await readInputAssignments(assignments, inputs)];
  return randomSamples(inputs, count, seed);
}

/**
 * Samples from a folder: for each input, `<name>.npy`, or `<name>.raw` / `<name>.bin` holding
 * the input's declared dtype and shape as raw little-endian values; for one sample, or one
 * sub-folder of such files per sample (in name order).
 */
export async function readInputsDir(
  dir: string,
  inputs: readonly ProgramIO[],
): Promise<Record<string, Tensor>[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const folders = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const sampleDirs = folders.length > 0 ? folders.map((f) => join(dir, f)) : [dir];
  const samples: Record<string, Tensor>[] = [];
  for (const sampleDir of sampleDirs) {
    const files = new Set(await readdir(sampleDir));
    const fileOf = (name: string) =>
      [".npy", ".raw", ".bin"].map((ext) => `${name}${ext}`).find((f) => files.has(f));
    const missing = inputs.filter((i) => !fileOf(i.name)).map((i) => `${i.name}.npy (or .raw)`);
    if (missing.length > 0) {
      throw new ConfigError(`--inputs ${sampleDir}: missing ${missing.join(", ")}`);
    }
    const sample: Record<string, Tensor> = {};
    for (const input of inputs) {
      const file = join(sampleDir, fileOf(input.name)!);
      const bytes = await readRegularFile(file);
      sample[input.name] = file.endsWith(".npy")
        ? readNpy(bytes, file)
        : rawTensor(bytes, input, file);
    }
    samples.push(sample);
  }
  return samples;
}

/** A raw file's bytes as the input's declared dtype and (fully known) shape. */
function rawTensor(bytes: Uint8Array, input: ProgramIO, file: string): Tensor {
  const shape = input.shape;
  if (shape.some((d) => d === null)) {
    throw new ConfigError(
      `${file}: input ${input.name} has an open dimension; give a .npy file instead`,
    );
  }
  const dims = shape as number[];
  const ArrayType = ELEMENT_TYPES[input.dtype].array;
  const expected = elementCount(dims) * (ArrayType?.BYTES_PER_ELEMENT ?? 0);
  if (!ArrayType || bytes.length !== expected) {
    throw new ConfigError(
      `${file}: ${bytes.length} bytes, but input ${input.name} (${input.dtype}[${dims.join(",")}]) needs ${expected}`,
    );
  }
  const copy = new Uint8Array(bytes);
  return {
    dtype: input.dtype,
    shape: dims,
    data: new ArrayType(copy.buffer, 0, elementCount(dims)),
  };
}

/**
 * `--data name=file.npy`: each file holds a batch of samples of one input along its first
 * axis (e.g. token windows [N, 128] for an input [1, 128], images [N, 3, H, W] for [3, H, W]
 * or [1, 3, H, W]); every input must be given, with the same number of samples.
 */
export async function readBatches(
  assignments: readonly string[],
  inputs: readonly ProgramIO[],
  limit?: number,
): Promise<Record<string, Tensor>[]> {
  const samples: Record<string, Tensor>[] = [];
  for (const assignment of assignments) {
    const at = assignment.indexOf("=");
    if (at <= 0) throw new ConfigError(`--data "${assignment}": expected name=file.npy`);
    const name = assignment.slice(0, at);
    const file = assignment.slice(at + 1);
    const input = inputs.find((i) => i.name === name);
    if (!input) {
      throw new ConfigError(
        `--data ${name}: the model has no such input (inputs: ${inputs.map((i) => i.name).join(", ")})`,
      );
    }
    const batch = readNpy(await readRegularFile(file), file);
    // A row keeps the input's rank: [N, ...] rows become [1, ...] when the input has a leading 1.
    const rowShape = batch.shape.slice(1);
    const shape = rowShape.length < input.shape.length ? [1, ...rowShape] : rowShape;
    const fits =
      shape.length === input.shape.length &&
      input.shape.every((d, i) => d === null || d === shape[i]);
    if (!fits) {
      throw new ConfigError(
        `--data ${file}: rows of shape [${rowShape.join(",")}] do not fit input ${name} [${input.shape.map((d) => d ?? "?").join(",")}]`,
      );
    }
    const rows = Math.min(batch.shape[0] ?? 0, limit ?? Infinity);
    if (samples.length > 0 && samples.length !== rows) {
      throw new ConfigError(
        `--data ${file}: ${rows} samples, the other inputs have ${samples.length}`,
      );
    }
    const size = elementCount(rowShape);
    const data = batch.data as ArrayLike<unknown> & { subarray(a: number, b: number): unknown };
    for (let r = 0; r < rows; r++) {
      samples[r] ??= {};
      samples[r][name] = {
        dtype: batch.dtype,
        shape,
        data: data.subarray(r * size, (r + 1) * size),
      } as Tensor;
    }
  }
  const missing = inputs.filter((i) => !samples[0]?.[i.name]).map((i) => i.name);
  if (samples.length > 0 && missing.length > 0) {
    throw new ConfigError(`no --data given for ${missing.join(", ")}`);
  }
  return samples;
}

/** The flags every sample-running command shares. */
export interface SampleFlags {
  input?: string[];
  inputs?: string;
  data?: string[];
  limit?: string;
  samples: string;
  seed: string;
}

/** Samples from `--data` batches, an `--inputs` folder, `--input` files, else seeded random ones. */
export async function samplesFromFlags(
  flags: SampleFlags,
  inputs: readonly ProgramIO[],
): Promise<Record<string, Tensor>[]> {
  const limit = flags.limit === undefined ? undefined : parseInteger(flags.limit, "--limit", 1);
  if (flags.data?.length) return readBatches(flags.data, inputs, limit);
  if (flags.inputs) return (await readInputsDir(flags.inputs, inputs)).slice(0, limit);
  const count = parseInteger(flags.samples, "--samples", 1);
  return samplesFor(flags.input ?? [], inputs, count, parseInteger(flags.seed, "--seed"));
}

/** The sample options (`SampleFlags`) of the commands that run a model on samples. */
export function sampleOptions(command: Command, defaultSamples = "4"): Command {
  return command
    .option(
      "--data <name=file.npy>",
      "a batch of samples: each row of the file's first axis is one sample of that input (repeat per input)",
      collect,
    )
    .option(
      "--inputs <dir>",
      "a folder of <input>.npy (or raw <input>.raw) files, or of one such folder per sample",
    )
    .option(
      "-i, --input <name=file.npy>",
      "one sample: an input tensor (repeat per input)",
      collect,
    )
    .option("--limit <n>", "use only the first n samples of --data or --inputs")
    .option(
      "--samples <n>",
      "number of seeded random samples when no data is given",
      defaultSamples,
    )
    .option("--seed <n>", "seed of the random samples", "0");
}
