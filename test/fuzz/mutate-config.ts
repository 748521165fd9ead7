/**
 * Mutated `--config` files: coremltools-shaped configs (from the golden cases) written as YAML
 * or JSON, then edited as data (unknown keys, wrong types, huge or non-finite numbers, deep
 * nesting, renamed or missing keys, step lists of the wrong shape) or as text (YAML alias
 * bombs, deep flow nesting, custom tags, broken syntax).
 */
import { stringify } from "yaml";
import type { Rng } from "./random.js";

export interface ConfigFile {
  name: string;
  bytes: Uint8Array;
  description: string;
}

type Node = Record<string, unknown> | unknown[];

const WEIRD_VALUES: unknown[] = [
  null,
  true,
  "",
  "int8",
  "int2",
  -1,
  0,
  0.5,
  1.5,
  1e308,
  -1e308,
  2 ** 53 + 1,
  4294967296,
  [],
  {},
  [1, 2, 3],
  [0, 0],
  { unknown_key: 1 },
  "x".repeat(100_000),
];

const KEY_RENAMES: Record<string, string> = {
  global_config: "globalConfig",
  op_type_configs: "op_type_config",
  op_name_configs: "opNameConfigs",
  config_type: "type",
  joint_compression: "joint",
  steps: "step",
};

/** Every container in `root` with the path to it. */
function containers(root: unknown, path = "", out: [string, Node][] = []): [string, Node][] {
  if (root !== null && typeof root === "object") {
    out.push([path || "(top)", root as Node]);
    for (const [key, value] of Object.entries(root)) containers(value, `${path}.${key}`, out);
  }
  return out;
}

function deepValue(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = { k: value };
  return value;
}

function editData(config: unknown, rng: Rng): string {
  const places = containers(config);
  const [path, node] = rng.pick(places);
  const keys = Array.isArray(node) ? node.map((_, i) => String(i)) : Object.keys(node);
  const record = node as Record<string, unknown>;
  const change =
    keys.length === 0
      ? "add"
      : rng.pick(["add", "delete", "value", "value", "rename", "deep", "config type"]);
  switch (change) {
    case "add": {
      const key = rng.pick([
        "unknown_key",
        "nbits",
        "dtype",
        "joint_compression",
        "steps",
        "__proto__",
        "constructor",
      ]);
      record[key] = structuredClone(rng.pick(WEIRD_VALUES));
      return `${path}.${key} added (${JSON.stringify(record[key])?.slice(0, 30)})`;
    }
    case "delete": {
      const key = rng.pick(keys);
      if (Array.isArray(node)) node.splice(Number(key), 1);
      else delete record[key];
      return `${path}.${key} removed`;
    }
    case "rename": {
      const key = rng.pick(keys);
      const renamed = KEY_RENAMES[key] ?? `${key}_x`;
      record[renamed] = record[key];
      delete record[key];
      return `${path}.${key} renamed to ${renamed}`;
    }
    case "deep": {
      const key = rng.pick(keys);
      const depth = rng.pick([50, 2000]);
      record[key] = deepValue(depth);
      return `${path}.${key} replaced by a value nested ${depth} deep`;
    }
    case "config type": {
      record.config_type = rng.pick([
        "OpLinearQuantizerConfig",
        "OpPalettizerConfig",
        "OpMagnitudePrunerConfig",
        "OpThresholdPrunerConfig",
        "OpActivationLinearQuantizerConfig",
        "NoSuchConfig",
        7,
      ]);
      return `${path}.config_type = ${JSON.stringify(record.config_type)}`;
    }
    default: {
      const key = rng.pick(keys);
      record[key] = structuredClone(rng.pick(WEIRD_VALUES));
      return `${path}.${key} = ${JSON.stringify(record[key])?.slice(0, 30)}`;
    }
  }
}

/** Texts that only a YAML parser's limits stop. */
function hostileYaml(rng: Rng, valid: string): [string, string] {
  const choices: [string, () => string][] = [
    [
      "alias bomb",
      () => {
        const lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]'];
        for (let i = 1; i < 12; i++)
          lines.push(
            `a${i}: &a${i} [${Array(10)
              .fill(`*a${i - 1}`)
              .join(",")}]`,
          );
        return `${lines.join("\n")}\nconfig_type: OpLinearQuantizerConfig\nglobal_config: *a11\n`;
      },
    ],
    ["deep flow nesting", () => `global_config: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`],
    [
      "deep block nesting",
      () => Array.from({ length: 3000 }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n") + " 1\n",
    ],
    [
      "custom tag",
      () => `config_type: !!js/function "function () {}"\nglobal_config: !foo {dtype: int8}\n`,
    ],
    [
      "binary tag",
      () => `config_type: OpLinearQuantizerConfig\nglobal_config: !!binary aGVsbG8=\n`,
    ],
    [
      "merge key",
      () =>
        `base: &b {dtype: int8}\nconfig_type: OpLinearQuantizerConfig\nglobal_config: {<<: *b, granularity: per_tensor}\n`,
    ],
    ["two documents", () => `${valid}\n---\n${valid}`],
    ["tabs", () => valid.replace(/ {2}/g, "\t")],
    [
      "non-finite",
      () =>
        `config_type: OpLinearQuantizerConfig\nglobal_config: {weight_threshold: .nan, block_size: .inf}\n`,
    ],
    [
      "duplicate keys",
      () =>
        `config_type: OpLinearQuantizerConfig\nconfig_type: OpPalettizerConfig\nglobal_config: {}\n`,
    ],
    ["scalar", () => rng.pick(["42", "null", "~", "''", "[]", "- a\n- b\n"])],
    ["empty", () => ""],
    ["truncated", () => valid.slice(0, rng.int(0, valid.length))],
    ["garbage", () => String.fromCharCode(...Array.from({ length: 200 }, () => rng.int(0, 255)))],
  ];
  const [name, make] = rng.pick(choices);
  return [name, make()];
}

/** A config file for `command`, mutated; its name's extension also varies. */
export function mutateConfig(value: unknown, rng: Rng): ConfigFile {
  const config = structuredClone(value);
  const asJson = rng.chance(0.4);
  const name = rng.weighted([
    [asJson ? "config.json" : "config.yaml", 8],
    ["config.yml", 1],
    ["config", 1],
    ["config.txt", 1],
    [asJson ? "config.yaml" : "config.json", 1],
  ] as const);
  const render = (v: unknown) => (asJson ? JSON.stringify(v, null, 2) : stringify(v));
  if (rng.chance(0.2)) {
    const [what, text] = hostileYaml(rng, render(config));
    return { name, bytes: new TextEncoder().encode(text), description: `config ${name}: ${what}` };
  }
  const steps: string[] = [];
  for (let i = rng.chance(0.75) ? 1 : 2; i > 0; i--) steps.push(editData(config, rng));
  let text: string;
  try {
    text = render(config);
  } catch {
    text = JSON.stringify(config);
  }
  return {
    name,
    bytes: new TextEncoder().encode(text),
    description: `config ${name}: ${steps.join("; ")}`,
  };
}

/** The seed config, unmutated, as a file. */
export function configFile(value: unknown): ConfigFile {
  return {
    name: "config.yaml",
    bytes: new TextEncoder().encode(stringify(value)),
    description: "config.yaml",
  };
}
