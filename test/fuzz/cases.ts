/**
 * Case generation: case N of a campaign is drawn from its own seeded generator, so the same
 * seed gives the same cases in the same order. A case is a family (what is attacked), a command
 * line, the files to create (mutated models, configs, inputs, special files, things in the way
 * of the output) and what to check afterwards (the inputs to hash, the output to load).
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { mutateBytes } from "./mutate-bytes.js";
import { mutateWeightFile } from "./mutate-blob.js";
import { configFile, mutateConfig, type ConfigFile } from "./mutate-config.js";
import { mutateManifest } from "./mutate-manifest.js";
import { mutateNpy } from "./mutate-npy.js";
import { mutateModelProto } from "./mutate-proto.js";
import type { PlanEntry } from "./plan.js";
import { Rng } from "./random.js";
import type { BaseModel, ConfigCommand, Seeds } from "./seeds.js";

export const FAMILIES = [
  "bytes",
  "proto",
  "blob",
  "manifest",
  "special",
  "config",
  "inputs",
  "output",
  "flags",
  "signal",
  "epipe",
] as const;
export type Family = (typeof FAMILIES)[number];

const FAMILY_WEIGHTS: Record<Family, number> = {
  bytes: 14,
  proto: 26,
  blob: 10,
  manifest: 7,
  special: 7,
  config: 10,
  inputs: 8,
  output: 10,
  flags: 5,
  signal: 2,
  epipe: 1,
};

export const COMMANDS = [
  "inspect",
  "decompress",
  "quantize",
  "palettize",
  "prune",
  "compress",
  "quantize-weights",
  "quantize-activations",
  "predict",
  "compare",
] as const;
export type Command = (typeof COMMANDS)[number];

const WRITING: readonly Command[] = [
  "decompress",
  "quantize",
  "palettize",
  "prune",
  "compress",
  "quantize-weights",
  "quantize-activations",
];

export interface Case {
  index: number;
  family: Family;
  command: Command;
  /** Arguments after `main.js`; paths are relative to the child's working folder. */
  args: string[];
  plan: PlanEntry[];
  /** What was done to the inputs, for people. */
  mutations: string[];
  /** Paths hashed before and after the run: every input, and files that are in the way. */
  inputs: string[];
  /** The `-o` path, loaded and inspected after a successful run. */
  output?: string;
  outputKind?: "model" | "npy-dir";
  /** Interrupt the run after this long. */
  signal?: { name: "SIGINT" | "SIGTERM"; afterMs: number };
  /** Close the child's standard output at once (a reader that went away). */
  closeStdout?: boolean;
}

const MODEL_FILE = "Data/com.apple.CoreML/model.mlmodel";
const WEIGHT_FILE = "Data/com.apple.CoreML/weights/weight.bin";

/** What a case is being built from: the chosen base, its path in the case, and the plan. */
class Draft {
  readonly plan: PlanEntry[] = [];
  readonly mutations: string[] = [];
  readonly inputs: string[] = [];
  readonly args: string[] = [];
  output?: string;
  outputKind?: "model" | "npy-dir";
  modelPath: string;

  constructor(
    readonly rng: Rng,
    readonly seeds: Seeds,
    readonly command: Command,
    readonly base: BaseModel,
    modelDir = "",
  ) {
    this.modelPath = join(modelDir, `in.${base.format}`);
    this.plan.push({ kind: "copy", path: this.modelPath, from: base.path });
    this.inputs.push(this.modelPath);
  }

  /** Replaces a file inside the model (or the model file itself) with `bytes`. */
  replace(inside: string, bytes: Uint8Array, description: string) {
    const path = inside ? join(this.modelPath, inside) : this.modelPath;
    this.plan.push({ kind: "file", path, bytes });
    this.mutations.push(`${inside || basename(this.modelPath)}: ${description}`);
  }

  readBase(inside: string): Uint8Array {
    return readFileSync(inside ? join(this.base.path, inside) : this.base.path);
  }

  addFile(path: string, bytes: Uint8Array) {
    this.plan.push({ kind: "file", path, bytes });
    this.inputs.push(path);
  }
}

// ---- choosing bases and commands ----------------------------------------------------------

const PRIMARY_WEIGHTS: Record<string, number> = {
  zoo_fp16_ios18: 3,
  zoo_fp16_ios16: 2,
  lattice_fp16_ios18: 1,
  nn: 3,
  tiny_lstm_fp32: 2,
};

function pickBase(
  rng: Rng,
  seeds: Seeds,
  accept: (base: BaseModel) => boolean = () => true,
): BaseModel {
  const candidates = seeds.bases.filter(accept);
  return rng.weighted(
    candidates.map((b) => [b, PRIMARY_WEIGHTS[b.name] ?? (b.compressed ? 0.2 : 0.5)] as const),
  );
}

/** How often each command runs on a model of this kind. */
function commandWeights(base: BaseModel): [Command, number][] {
  const program = base.program === "mlProgram";
  return [
    ["inspect", 4],
    ["decompress", 2],
    ["quantize", program ? 3 : 1],
    ["palettize", program ? 2 : 1],
    ["prune", program ? 2 : 0.5],
    ["compress", program ? 1 : 0.2],
    ["quantize-weights", program ? 0.3 : 3],
    ["quantize-activations", program ? 1 : 0.2],
    ["predict", 2],
    ["compare", 1.5],
  ];
}

function suitsCommand(command: Command, base: BaseModel): boolean {
  switch (command) {
    case "quantize-weights":
      return base.program === "neuralNetwork";
    case "compress":
    case "quantize-activations":
      return base.program === "mlProgram" && !base.compressed;
    case "predict":
    case "compare":
      return base.inputs.length > 0;
    default:
      return true;
  }
}

// ---- command lines -------------------------------------------------------------------------

/** Option groups (each a flag and maybe its value) for a valid run of `command`. */
function optionGroups(d: Draft): string[][] {
  const { rng, command, base } = d;
  const groups: string[][] = [];
  const maybe = (p: number, ...group: string[]) => {
    if (rng.chance(p)) groups.push(group);
  };
  switch (command) {
    case "inspect":
      maybe(0.4, "--weights");
      maybe(0.2, "--weight-threshold", rng.pick(["0", "2048"]));
      maybe(0.4, "--json");
      break;
    case "decompress":
      maybe(0.3, "--json");
      break;
    case "quantize":
      maybe(0.5, "--dtype", rng.pick(["int8", "uint8", "int4", "uint4"]));
      maybe(0.3, "--mode", rng.pick(["linear", "linear_symmetric"]));
      if (rng.chance(0.4)) {
        const granularity = rng.pick(["per_tensor", "per_channel", "per_block"]);
        groups.push(["--granularity", granularity]);
        if (granularity === "per_block")
          groups.push(["--block-size", rng.pick(["16", "32", "1,64"])]);
      }
      maybe(0.2, "--weight-threshold", rng.pick(["0", "2048"]));
      maybe(
        0.15,
        "--op-type",
        rng.pick(["conv=skip", "linear=dtype:int4,granularity:per_block,block_size:32"]),
      );
      maybe(0.1, "--op-name", "fc2_cast_fp16=skip");
      maybe(0.15, "--target", rng.pick(["ios16", "ios17", "ios18"]));
      maybe(base.compressed ? 0.5 : 0.05, "--joint");
      maybe(0.1, "--check", "1");
      maybe(0.2, "--json");
      break;
    case "palettize":
      maybe(0.6, "--nbits", rng.pick(["1", "2", "3", "4", "6", "8"]));
      maybe(0.2, "--mode", rng.pick(["kmeans", "uniform", "unique"]));
      if (rng.chance(0.2))
        groups.push(
          ["--granularity", "per_grouped_channel"],
          ["--group-size", rng.pick(["8", "16", "32"])],
        );
      maybe(0.1, "--cluster-dim", rng.pick(["2", "4"]));
      maybe(0.1, "--per-channel-scale");
      maybe(0.2, "--weight-threshold", rng.pick(["0", "2048"]));
      maybe(0.2, "--workers", "1");
      maybe(0.1, "--target", "ios18");
      maybe(base.compressed ? 0.4 : 0.05, "--joint");
      maybe(0.1, "--check", "1");
      maybe(0.2, "--json");
      break;
    case "prune": {
      const mode = rng.pick(["magnitude", "block", "n:m", "threshold"]);
      if (mode === "threshold") {
        groups.push(["--mode", "threshold"], ["--threshold", rng.pick(["0.03", "0.001"])]);
        maybe(0.3, "--minimum-sparsity-percentile", "0.3");
      } else {
        groups.push(["--target-sparsity", rng.pick(["0.5", "0.75", "0.25"])]);
        if (mode === "block")
          groups.push(["--block-size", rng.pick(["2", "4"])], ["--dim", rng.pick(["0", "1"])]);
        if (mode === "n:m") groups[0] = ["--n-m", rng.pick(["2:4", "1:4", "3:8"])];
      }
      maybe(0.2, "--weight-threshold", rng.pick(["0", "2048"]));
      maybe(0.1, "--target", rng.pick(["ios16", "ios18"]));
      maybe(0.1, "--check", "1");
      maybe(0.2, "--json");
      break;
    }
    case "compress":
      maybe(0.2, "--target", "ios18");
      maybe(0.2, "--json");
      break;
    case "quantize-weights": {
      groups.push(["--nbits", rng.pick(["1", "2", "4", "8", "16"])]);
      const mode = rng.pick(["linear", "linear_symmetric", "kmeans_lut", "linear_lut"]);
      maybe(0.4, "--mode", mode);
      if (groups.at(-1)?.[1] === "kmeans_lut" && rng.chance(0.3)) {
        groups.push(["--algorithm", "sensitive-kmeans"], ["--samples", "1"]);
        maybe(0.3, "--measure", rng.pick(["layer", "output"]));
      }
      maybe(0.1, "--skip-layer-types", rng.pick(["convolution", "innerProduct,embedding"]));
      maybe(0.1, "--min-conv-channels", "4");
      maybe(0.1, "--min-weight-count", "4096");
      maybe(0.1, "--skip-layers", "ip");
      maybe(0.1, "--check", "1");
      maybe(0.2, "--json");
      break;
    }
    case "quantize-activations":
      groups.push(["--samples", rng.pick(["1", "2", "3"])]);
      maybe(0.2, "--seed", "7");
      maybe(0.2, "--mode", rng.pick(["linear", "linear_symmetric"]));
      maybe(0.2, "--dtype", rng.pick(["int8", "uint8"]));
      maybe(0.2, "--target", rng.pick(["ios17", "ios18"]));
      maybe(0.1, "--check", "1");
      maybe(0.2, "--json");
      break;
    case "predict":
      maybe(0.3, "--seed", rng.pick(["1", "42"]));
      maybe(0.3, "--json");
      break;
    case "compare":
      maybe(0.5, "--samples", rng.pick(["1", "2"]));
      maybe(0.2, "--seed", "3");
      maybe(0.3, "--json");
      break;
  }
  return groups;
}

/** A valid `--config` for `command`, from the golden cases. */
function seedConfig(d: Draft, command: ConfigCommand): unknown {
  const matching = d.seeds.configs.filter((c) => c.command === command);
  return d.rng.pick(matching).value;
}

function configCommand(command: Command): ConfigCommand | undefined {
  return (["quantize", "palettize", "prune", "compress", "quantize-activations"] as const).find(
    (c) => c === command,
  );
}

/** A model to compare against: the model itself, a compressed version of it, or its base. */
function partnerOf(d: Draft): BaseModel {
  const family = d.base.name.replace(/^.*__/, "");
  const related = d.seeds.bases.filter(
    (b) =>
      b.format === d.base.format &&
      b.inputs.length > 0 &&
      (b.name === family || b.name.endsWith(`__${d.base.name}`) || b.name.endsWith(`__${family}`)),
  );
  return related.length > 0 ? d.rng.pick(related) : d.base;
}

/** Writes the valid sample's `.npy` files into `samples/` and returns `-i` assignments. */
function sampleInputs(d: Draft): string[] {
  return d.base.inputs.map((input) => {
    const path = `samples/${input.name}.npy`;
    d.addFile(path, input.npy);
    return `${input.name}=${path}`;
  });
}

/**
 * The whole command line for `d.command` with valid options, plus its config file, inputs and
 * output, recorded in the draft. `config` replaces the seed config file; `output` the output.
 */
function commandLine(
  d: Draft,
  options: { config?: ConfigFile; output?: string; groups?: string[][] } = {},
) {
  const { command, rng } = d;
  const args: string[] = [command];
  if (command === "compare") {
    const partner = partnerOf(d);
    const other = `other.${partner.format}`;
    d.plan.push({ kind: "copy", path: other, from: partner.path });
    d.inputs.push(other);
    args.push(...(rng.chance(0.5) ? [d.modelPath, other] : [other, d.modelPath]));
  } else {
    args.push(d.modelPath);
  }
  const wantsConfig = command === "compress" || (configCommand(command) && rng.chance(0.15));
  const config =
    options.config ??
    (wantsConfig ? configFile(seedConfig(d, configCommand(command)!)) : undefined);
  if (config) {
    d.addFile(config.name, config.bytes);
    args.push("--config", config.name);
  }
  if ((command === "predict" || command === "compare") && d.base.inputs.length > 0) {
    const how = rng.pick(["random", "-i", "--inputs"]);
    if (how === "-i") for (const assignment of sampleInputs(d)) args.push("-i", assignment);
    if (how === "--inputs" && command === "compare") {
      sampleInputs(d);
      args.push("--inputs", "samples");
    }
  }
  if (command === "quantize-activations" && d.base.inputs.length > 0 && rng.chance(0.3)) {
    sampleInputs(d);
    args.push("--inputs", "samples");
  }
  for (const group of options.groups ?? optionGroups(d)) args.push(...group);
  if (WRITING.includes(command)) {
    d.output =
      options.output ?? `out.${command === "quantize-weights" ? "mlmodel" : d.base.format}`;
    d.outputKind = "model";
    args.push("-o", d.output);
  } else if (command === "predict" && (options.output !== undefined || rng.chance(0.4))) {
    d.output = options.output ?? "predicted";
    d.outputKind = "npy-dir";
    args.push("-o", d.output);
  }
  d.args.push(...args);
}

// ---- families ------------------------------------------------------------------------------

type Builder = (rng: Rng, seeds: Seeds) => Draft;

function draftFor(
  rng: Rng,
  seeds: Seeds,
  accept: (base: BaseModel) => boolean = () => true,
  modelDir = "",
): Draft {
  const base = pickBase(rng, seeds, accept);
  const command = rng.weighted(commandWeights(base).filter(([c]) => suitsCommand(c, base)));
  return new Draft(rng, seeds, command, base, modelDir);
}

/** The model's main protobuf: the `.mlmodel` file, or the package's model.mlmodel. */
function modelProtoPath(d: Draft): string {
  return d.base.format === "mlmodel" ? "" : MODEL_FILE;
}

const byteFamily: Builder = (rng, seeds) => {
  const d = draftFor(rng, seeds);
  const inside =
    d.base.format === "mlmodel"
      ? ""
      : rng.weighted([
          [MODEL_FILE, 5],
          [WEIGHT_FILE, 4],
          ["Manifest.json", 1],
        ] as const);
  const mutated = mutateBytes(d.readBase(inside), rng);
  d.replace(inside, mutated.bytes, mutated.description);
  commandLine(d);
  return d;
};

const protoFamily: Builder = (rng, seeds) => {
  const d = draftFor(rng, seeds);
  const inside = modelProtoPath(d);
  const original = d.readBase(inside);
  const mutated = mutateModelProto(original, rng) ?? mutateBytes(original, rng);
  d.replace(inside, mutated.bytes, mutated.description);
  commandLine(d);
  return d;
};

const blobFamily: Builder = (rng, seeds) => {
  const d = draftFor(rng, seeds, (b) => b.format === "mlpackage");
  const mutated = mutateWeightFile(d.readBase(WEIGHT_FILE), rng);
  d.replace(WEIGHT_FILE, mutated.bytes, mutated.description);
  commandLine(d);
  return d;
};

const manifestFamily: Builder = (rng, seeds) => {
  const d = draftFor(rng, seeds, (b) => b.format === "mlpackage");
  const mutated = mutateManifest(new TextDecoder().decode(d.readBase("Manifest.json")), rng);
  d.replace("Manifest.json", mutated.bytes, mutated.description);
  commandLine(d);
  return d;
};

const SPECIALS: [string, number][] = [
  ["fifo", 3],
  ["link to /dev/zero", 3],
  ["link to /dev/urandom", 2],
  ["link to /dev/null", 1],
  ["folder", 2],
  ["dangling link", 2],
  ["link loop", 1],
  ["link to a copy", 1],
  ["empty file", 1],
];

/** Puts a special file at `path` (relative to the case's working folder). */
function placeSpecial(d: Draft, path: string, kind: string) {
  const entry = ((): PlanEntry[] => {
    switch (kind) {
      case "fifo":
        return [{ kind: "fifo", path }];
      case "link to /dev/zero":
        return [{ kind: "symlink", path, target: "/dev/zero" }];
      case "link to /dev/urandom":
        return [{ kind: "symlink", path, target: "/dev/urandom" }];
      case "link to /dev/null":
        return [{ kind: "symlink", path, target: "/dev/null" }];
      case "folder":
        return [
          { kind: "remove", path },
          { kind: "dir", path: join(path, "inner") },
        ];
      case "dangling link":
        return [{ kind: "symlink", path, target: "does-not-exist" }];
      case "link loop":
        return [{ kind: "symlink", path, target: basename(path) }];
      default:
        return [{ kind: "file", path, bytes: new Uint8Array() }];
    }
  })();
  d.plan.push(...entry);
  d.mutations.push(`${path}: replaced by ${kind}`);
}

const specialFamily: Builder = (rng, seeds) => {
  const d = draftFor(rng, seeds);
  commandLine(d);
  const modelTargets =
    d.base.format === "mlmodel"
      ? [d.modelPath]
      : [
          d.modelPath,
          join(d.modelPath, "Manifest.json"),
          join(d.modelPath, MODEL_FILE),
          join(d.modelPath, WEIGHT_FILE),
          join(d.modelPath, "Data/com.apple.CoreML/weights"),
        ];
  const others = d.inputs.filter((p) => !p.startsWith(d.modelPath));
  const target = others.length > 0 && rng.chance(0.3) ? rng.pick(others) : rng.pick(modelTargets);
  const kind = rng.weighted(SPECIALS);
  if (kind === "link to a copy" && target.startsWith(d.modelPath)) {
    // Link to a real copy elsewhere in the case: a valid model reached through a link.
    const copyPath = join("elsewhere", target);
    d.plan.push({
      kind: "copy",
      path: copyPath,
      from: join(d.base.path, target.slice(d.modelPath.length)),
    });
    d.plan.push({
      kind: "symlink",
      path: target,
      target: join("../".repeat(target.split("/").length - 1), copyPath),
    });
    d.mutations.push(`${target}: replaced by a link to a copy`);
  } else {
    placeSpecial(d, target, kind === "link to a copy" ? "empty file" : kind);
  }
  return d;
};

const configFamily: Builder = (rng, seeds) => {
  const d = draftFor(rng, seeds, (b) => b.program === "mlProgram" && !b.compressed);
  const command = rng.pick([
    "quantize",
    "palettize",
    "prune",
    "compress",
    "quantize-activations",
  ] as const);
  const draft = new Draft(rng, seeds, command, d.base);
  const config = mutateConfig(seedConfig(draft, command), rng);
  draft.mutations.push(config.description);
  commandLine(draft, { config, groups: rng.chance(0.2) ? optionGroups(draft) : [] });
  return draft;
};

/** Inputs given by `-i` or `--inputs`, mutated as files or as arguments. */
const inputsFamily: Builder = (rng, seeds) => {
  const base = pickBase(rng, seeds, (b) => b.inputs.length > 0);
  const command = rng.pick(
    base.program === "mlProgram" && !base.compressed
      ? (["predict", "compare", "quantize-activations"] as const)
      : (["predict", "compare"] as const),
  );
  const d = new Draft(rng, seeds, command, base);
  const args: string[] = [command];
  if (command === "compare") {
    const partner = partnerOf(d);
    d.plan.push({ kind: "copy", path: `other.${partner.format}`, from: partner.path });
    d.inputs.push(`other.${partner.format}`);
    args.push(d.modelPath, `other.${partner.format}`);
  } else {
    args.push(d.modelPath);
  }
  const assignments = sampleInputs(d);
  const victim = rng.int(0, base.inputs.length - 1);
  const name = base.inputs[victim].name;
  const file = `samples/${name}.npy`;
  const useDir = command === "quantize-activations" || (command === "compare" && rng.chance(0.5));
  const how = rng.weighted([
    ["npy", 6],
    ["argument", useDir ? 0 : 2],
    ["folder", useDir ? 2 : 0],
  ] as const);
  if (how === "npy") {
    const mutated = mutateNpy(base.inputs[victim].npy, rng);
    d.plan.push({ kind: "file", path: file, bytes: mutated.bytes });
    d.mutations.push(`${file}: ${mutated.description}`);
  }
  if (how === "argument") {
    const variants: [string, string[]][] = [
      ["empty name", [`=${file}`]],
      ["no =", [name]],
      ["no file", [`${name}=`]],
      ["missing file", [`${name}=samples/missing.npy`]],
      ["unknown input", [`no_such_input=${file}`]],
      ["a folder", [`${name}=samples`]],
      ["twice", [assignments[victim], assignments[victim]]],
      [
        "only one of several",
        assignments.length > 1 ? [assignments[0]] : [`${name}=${file}`, "extra=x"],
      ],
    ];
    const [what, replacement] = rng.pick(variants);
    assignments.splice(victim, 1, ...replacement);
    d.mutations.push(`-i ${what}: ${replacement.join(" ")}`);
  }
  if (how === "folder") {
    const change = rng.pick([
      "raw of wrong size",
      "missing",
      "sample folders",
      "empty",
      "nested",
      "bin",
    ]);
    if (change === "raw of wrong size") {
      d.plan.push(
        { kind: "remove", path: file },
        { kind: "file", path: `samples/${name}.raw`, bytes: rng.bytes(rng.pick([0, 3, 100])) },
      );
    } else if (change === "missing") {
      d.plan.push({ kind: "remove", path: file });
    } else if (change === "sample folders") {
      for (const sample of ["a", "b"])
        for (const input of base.inputs)
          d.plan.push({
            kind: "file",
            path: `samples/${sample}/${input.name}.npy`,
            bytes: input.npy,
          });
      d.plan.push({ kind: "remove", path: `samples/b/${name}.npy` });
    } else if (change === "empty") {
      d.plan.push({ kind: "remove", path: "samples" }, { kind: "dir", path: "samples" });
    } else if (change === "nested") {
      d.plan.push({ kind: "dir", path: "samples/a/deeper" });
    } else {
      d.plan.push(
        { kind: "file", path: `samples/${name}.bin`, bytes: rng.bytes(8) },
        { kind: "remove", path: file },
      );
    }
    d.mutations.push(`--inputs samples: ${change}`);
  }
  if (useDir) args.push("--inputs", "samples");
  else for (const assignment of assignments) args.push("-i", assignment);
  if (command === "quantize-activations") {
    d.output = "out.mlpackage";
    d.outputKind = "model";
    args.push("-o", d.output);
  } else if (command === "predict" && rng.chance(0.3)) {
    d.output = "predicted";
    d.outputKind = "npy-dir";
    args.push("-o", d.output);
  }
  d.args.push(...args);
  return d;
};

/** Output paths that must be refused (or, for a model of the same kind, replaced). */
const outputFamily: Builder = (rng, seeds) => {
  const command = rng.weighted([...WRITING.map((c) => [c, 1] as const), ["predict", 1] as const]);
  const base = pickBase(rng, seeds, (b) => suitsCommand(command, b) && !b.compressed);
  const ext = command === "quantize-weights" ? "mlmodel" : base.format;
  const nested = rng.chance(0.2);
  const d = new Draft(rng, seeds, command, base, nested ? "sub" : "");
  const bystander = (path: string) => d.inputs.push(path);
  const text = (s: string) => new TextEncoder().encode(s);
  type Variant = [string, () => string];
  const variants: Variant[] = [
    ["current folder", () => "."],
    ["empty", () => ""],
    ["folder holding the input", () => (nested ? "sub" : ".")],
    ["folder holding the input, with slash", () => (nested ? "sub/" : "./")],
    ["parent of the working folder", () => ".."],
    ["the input", () => d.modelPath],
    ["the input, spelled differently", () => `./${d.modelPath}/`],
    ["the input through ..", () => `${nested ? "sub/../sub" : "sub/.."}/${basename(d.modelPath)}`],
    [
      "inside the input",
      () =>
        base.format === "mlpackage"
          ? join(d.modelPath, "Data/out.mlpackage")
          : join(d.modelPath, "out.mlmodel"),
    ],
    [
      "the package's model folder",
      () =>
        base.format === "mlpackage" ? join(d.modelPath, "Data/com.apple.CoreML") : d.modelPath,
    ],
    [
      "the package's Data",
      () => (base.format === "mlpackage" ? join(d.modelPath, "Data") : d.modelPath),
    ],
    [
      "a link to the input",
      () => {
        d.plan.push({ kind: "symlink", path: `link.${ext}`, target: d.modelPath });
        return `link.${ext}`;
      },
    ],
    [
      "the input, given through a link",
      () => {
        d.plan.push({ kind: "symlink", path: `link.${base.format}`, target: d.modelPath });
        d.args[1] = `link.${base.format}`;
        return d.modelPath;
      },
    ],
    [
      "the input, through a linked folder",
      () => {
        d.plan.push({ kind: "symlink", path: "here", target: "." });
        return join("here", d.modelPath);
      },
    ],
    [
      "an existing text file",
      () => {
        d.plan.push({ kind: "file", path: "notes.txt", bytes: text("my notes\n") });
        bystander("notes.txt");
        return "notes.txt";
      },
    ],
    [
      "an existing folder",
      () => {
        d.plan.push(
          { kind: "file", path: "photos/a.jpg", bytes: text("jpeg") },
          { kind: "file", path: "photos/b.jpg", bytes: text("jpeg") },
        );
        if (command !== "predict") bystander("photos");
        return "photos";
      },
    ],
    [
      "an existing folder named like a model",
      () => {
        d.plan.push({ kind: "file", path: `photos.${ext}/a.jpg`, bytes: text("jpeg") });
        if (command !== "predict") bystander(`photos.${ext}`);
        return `photos.${ext}`;
      },
    ],
    [
      "an existing file named like a model",
      () => {
        d.plan.push({ kind: "file", path: `notes.${ext}`, bytes: text("not a model\n") });
        bystander(`notes.${ext}`);
        return `notes.${ext}`;
      },
    ],
    [
      "an existing model of the same kind",
      () => {
        const other =
          seeds.bases.find((b) => b.format === ext && b.name !== base.name && !b.compressed) ??
          base;
        d.plan.push({ kind: "copy", path: `existing.${ext}`, from: other.path });
        return `existing.${ext}`;
      },
    ],
    [
      "an existing model of the other kind",
      () => {
        const otherExt = ext === "mlmodel" ? "mlpackage" : "mlmodel";
        const other = seeds.bases.find((b) => b.format === otherExt && !b.compressed)!;
        d.plan.push({ kind: "copy", path: `existing.${ext}`, from: other.path });
        bystander(`existing.${ext}`);
        return `existing.${ext}`;
      },
    ],
    [
      "under /proc",
      () =>
        rng.pick([
          `/proc/self/fuzz-out.${ext}`,
          `/proc/fuzz-out.${ext}`,
          "/proc/version",
          "/proc/self/fd",
        ]),
    ],
    [
      "a FIFO",
      () => {
        const name = rng.pick(["pipe", `pipe.${ext}`]);
        d.plan.push({ kind: "fifo", path: name });
        bystander(name);
        return name;
      },
    ],
    [
      "a dangling link",
      () => {
        d.plan.push({ kind: "symlink", path: `dangling.${ext}`, target: "nowhere/else" });
        return `dangling.${ext}`;
      },
    ],
    ["missing parent folders", () => `new/deeper/out.${ext}`],
    [
      "another input of the command",
      () => {
        if (command === "predict") {
          // An input file named like an output: writing the outputs would overwrite it.
          const [input] = base.inputs;
          const file = `${base.outputs[0] ?? "out"}.npy`;
          d.addFile(file, input.npy);
          d.args.push(
            "-i",
            `${input.name}=${file}`,
            ...base.inputs
              .slice(1)
              .flatMap((i) => ["-i", `${i.name}=${sampleInputs1(d, i.name, i.npy)}`]),
          );
          return ".";
        }
        const config = configCommand(command);
        if (config && (command === "compress" || rng.chance(0.5))) {
          const file = configFile(seedConfig(d, config));
          d.addFile(file.name, file.bytes);
          d.args.push("--config", file.name);
          return file.name;
        }
        return d.modelPath;
      },
    ],
  ];
  const [what, make] = rng.pick(variants);
  d.args.push(command, d.modelPath);
  const output = make();
  d.mutations.push(`-o ${JSON.stringify(output)}: ${what}`);
  if (command === "compress" && !d.args.includes("--config")) {
    const file = configFile(seedConfig(d, "compress"));
    d.addFile(file.name, file.bytes);
    d.args.push("--config", file.name);
  }
  if (command === "quantize-weights") d.args.push("--nbits", "8");
  if (command === "quantize-activations") d.args.push("--samples", "1");
  d.args.push("-o", output);
  d.output = output;
  d.outputKind = command === "predict" ? "npy-dir" : "model";
  return d;
};

function sampleInputs1(d: Draft, name: string, npy: Uint8Array): string {
  const path = `samples/${name}.npy`;
  d.addFile(path, npy);
  return path;
}

const WEIRD_VALUES = [
  "",
  "0",
  "-1",
  "1.5",
  "abc",
  "1e400",
  "NaN",
  "Infinity",
  "-0",
  " 8",
  "0x10",
  "8bits",
  "1e-320",
];
const HUGE_VALUES = ["9007199254740993", "4294967296", "2147483648"];
const OPTION_VALUES: Record<string, string[]> = {
  "--n-m": ["4:2", "0:0", "a:b", "2:", "2:4:8", "2:0", "0:4", "4:4", "100:200"],
  "--block-size": ["0,64", "1,2,3", "64,0", ",", "1,-1", "1000000"],
  "--op-type": [
    "conv=dtype:int2",
    "=skip",
    "conv=",
    "conv=block_size:-1",
    "conv=granularity:per_block",
    "conv=dtype",
    "conv=nbits:4",
    "conv=skip,dtype:int8",
  ],
  "--op-name": ["=skip", "x=dtype:int4", "fc2_cast_fp16=block_size:0"],
  "--target": ["ios99", "", "iOS18", "macos15", "ios15", "ios0", "ios18.5"],
  "--mode": ["", "kmeans", "linear_lut", "custom", "unique", "symmetric", "threshold", "magnitude"],
  "--dtype": ["int2", "fp16", "uint1", "", "int32"],
  "--granularity": ["per_row", "", "per_grouped_channel", "per_block", "per_tensor"],
  "--skip-layer-types": ["", ",", "nosuch"],
  "--skip-layers": ["", ",", "nosuch"],
  "--cluster-dim": ["3", "5", "1000", "65536"],
  "--group-size": ["1", "3", "100000"],
  "--channel-axis": ["2", "3", "-1", "9"],
  "--dim": ["2", "-1", "5"],
  "--stage": ["0", "1", "99"],
};
/** Options whose large values legitimately ask for a long run: no huge values for them. */
const WORK_OPTIONS = new Set(["--samples", "--check", "--workers"]);
const VALUE_OPTIONS: Record<Command, string[]> = {
  inspect: ["--weight-threshold"],
  decompress: [],
  quantize: [
    "--mode",
    "--dtype",
    "--granularity",
    "--block-size",
    "--weight-threshold",
    "--op-type",
    "--op-name",
    "--target",
    "--check",
  ],
  palettize: [
    "--mode",
    "--nbits",
    "--granularity",
    "--group-size",
    "--channel-axis",
    "--cluster-dim",
    "--weight-threshold",
    "--workers",
    "--target",
    "--check",
  ],
  prune: [
    "--mode",
    "--threshold",
    "--minimum-sparsity-percentile",
    "--target-sparsity",
    "--block-size",
    "--n-m",
    "--dim",
    "--weight-threshold",
    "--target",
    "--check",
  ],
  compress: ["--target"],
  "quantize-weights": [
    "--nbits",
    "--mode",
    "--skip-layer-types",
    "--min-conv-channels",
    "--min-weight-count",
    "--skip-layers",
    "--check",
  ],
  "quantize-activations": ["--samples", "--seed", "--mode", "--dtype", "--target", "--check"],
  predict: ["--stage", "--seed"],
  compare: ["--samples", "--stage", "--seed"],
};

/** A valid run with one option's value replaced by a wrong one. */
const flagsFamily: Builder = (rng, seeds) => {
  const d = draftFor(rng, seeds, (b) => !b.compressed);
  const options = VALUE_OPTIONS[d.command];
  const groups = optionGroups(d);
  if (options.length > 0) {
    const option = rng.pick(options);
    const values = [
      ...(OPTION_VALUES[option] ?? []),
      ...WEIRD_VALUES,
      ...(WORK_OPTIONS.has(option) ? [] : HUGE_VALUES),
    ];
    const value = rng.pick(values);
    const existing = groups.find((g) => g[0] === option);
    if (existing) existing[1] = value;
    else groups.push([option, value]);
    d.mutations.push(`${option} ${JSON.stringify(value)}`);
  }
  commandLine(d, { groups });
  return d;
};

const signalFamily: Builder = (rng, seeds) => {
  const base = pickBase(rng, seeds, (b) => !b.compressed);
  const command = rng.pick(WRITING.filter((c) => suitsCommand(c, base)));
  const d = new Draft(rng, seeds, command, base);
  commandLine(d);
  return d;
};

const epipeFamily: Builder = (rng, seeds) => {
  const base = pickBase(rng, seeds, (b) => b.inputs.length > 0);
  const d = new Draft(rng, seeds, rng.pick(["inspect", "predict", "compare"] as const), base);
  commandLine(d);
  return d;
};

const BUILDERS: Record<Family, Builder> = {
  bytes: byteFamily,
  proto: protoFamily,
  blob: blobFamily,
  manifest: manifestFamily,
  special: specialFamily,
  config: configFamily,
  inputs: inputsFamily,
  output: outputFamily,
  flags: flagsFamily,
  signal: signalFamily,
  epipe: epipeFamily,
};

/** Case `index` of the campaign seeded by `seed`, from the chosen families. */
export function generateCase(
  seeds: Seeds,
  seed: string,
  index: number,
  families: readonly Family[] = FAMILIES,
): Case {
  const rng = Rng.forCase(seed, index);
  const family = rng.weighted(families.map((f) => [f, FAMILY_WEIGHTS[f]] as const));
  const d = BUILDERS[family](rng, seeds);
  const result: Case = {
    index,
    family,
    command: d.command,
    args: d.args,
    plan: d.plan,
    mutations: d.mutations,
    inputs: [...new Set(d.inputs)],
    output: d.output,
    outputKind: d.outputKind,
  };
  if (family === "signal") {
    result.signal = {
      name: rng.pick(["SIGINT", "SIGTERM"] as const),
      afterMs: rng.pick([150, 300, 500, 800, 1200]),
    };
    d.mutations.push(`${result.signal.name} after ${result.signal.afterMs} ms`);
  }
  if (family === "epipe") {
    result.closeStdout = true;
    d.mutations.push("standard output closed by its reader");
  }
  return result;
}
