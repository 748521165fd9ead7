/** Input tensors for the run commands: `--input name=file.npy` options, else seeded random data. */
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { ConfigError } from "../errors.js";
import { readNpy } from "../format/npy.js";
import type { Tensor } from "../kernels/dtype.js";
import type { ProgramIO } from "../runtime/interpreter.js";
import { randomSamples } from "../runtime/inputs.js";

/** commander collector for a repeatable option. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Reads `name=file.npy` assignments into one sample; every program input must be given. */
export async function readInputAssignments(
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
    sample[name] = readNpy(await readFile(file), file);
  }
  const missing = inputs.filter((i) => !sample[i.name]).map((i) => i.name);
  if (missing.length > 0) throw new ConfigError(`no --input given for ${missing.join(", ")}`);
  return sample;
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

export function parseCount(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new ConfigError(`${option} expects a whole number, got "${value}"`);
  return n;
}

/** The `--stage` option: which ML program stage of a pipeline to run. */
export function parseStage(value: string | undefined): number | undefined {
  return value === undefined ? undefined : parseCount(value, "--stage");
}

/**
 * Samples from a folder: `<input name>.npy` files for one sample, or one sub-folder of such
 * files per sample (in name order).
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
    const missing = inputs.filter((i) => !files.has(`${i.name}.npy`)).map((i) => `${i.name}.npy`);
    if (missing.length > 0) {
      throw new ConfigError(`--inputs ${sampleDir}: missing ${missing.join(", ")}`);
    }
    const sample: Record<string, Tensor> = {};
    for (const input of inputs) {
      const file = join(sampleDir, `${input.name}.npy`);
      sample[input.name] = readNpy(await readFile(file), file);
    }
    samples.push(sample);
  }
  return samples;
}
