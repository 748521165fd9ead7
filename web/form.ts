/**
 * The compression form: its fields become the config YAML that runs (coremltools' `from_dict`
 * shape, a list of `steps` for joint compression), the same file `coreml-optimize compress
 * --config` takes; for neural networks, the settings of `quantize-weights`.
 */
import {
  QUANTIZATION_DTYPES,
  QUANTIZATION_GRANULARITIES,
  QUANTIZATION_MODES,
} from "../src/config/linear-quantizer.js";
import {
  PALETTIZATION_GRANULARITIES,
  PALETTIZATION_MODES,
  PALETTIZATION_NBITS,
} from "../src/config/palettizer.js";
import { TARGETS } from "../src/program/targets.js";
import { h } from "./dom.js";
import type { NeuralSettings } from "./protocol.js";

/**
 * quantize_weights' modes that need no code of the user's (custom_lut does; "kmeans" is an
 * old name of kmeans_lut). Listed here, not imported, so the page does not load the pass.
 */
const NEURAL_MODES = ["linear", "linear_symmetric", "kmeans_lut", "linear_lut"];

export type StepKind = "linear" | "palettize" | "prune";

/** Each choice of method: its steps, in order (later steps compress jointly). */
export const FAMILIES: Record<string, { label: string; steps: StepKind[] }> = {
  linear: { label: "Linear quantization", steps: ["linear"] },
  palettize: { label: "Palettization (look-up tables)", steps: ["palettize"] },
  prune: { label: "Pruning", steps: ["prune"] },
  "prune+linear": { label: "Joint: prune, then quantize what is kept", steps: ["prune", "linear"] },
  "prune+palettize": {
    label: "Joint: prune, then palettize what is kept",
    steps: ["prune", "palettize"],
  },
  "palettize+linear": {
    label: "Joint: palettize, then quantize the tables",
    steps: ["palettize", "linear"],
  },
};

const STEP_LABELS: Record<StepKind, string> = {
  linear: "quantize",
  palettize: "palettize",
  prune: "prune",
};

/** A value of the YAML we write; `{ flow }` is a user's own one-line YAML mapping. */
type Yaml = string | number | boolean | null | number[] | { flow: string } | YamlMap;
interface YamlMap {
  [key: string]: Yaml;
}

const PLAIN = /^[A-Za-z_][\w.-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~)$/i;

function scalar(value: Exclude<Yaml, YamlMap | { flow: string }>): string {
  if (Array.isArray(value)) return `[${value.join(", ")}]`;
  if (typeof value === "string") {
    return PLAIN.test(value) && !RESERVED.test(value) ? value : JSON.stringify(value);
  }
  return String(value);
}

/** Block-style YAML for a mapping, `indent` spaces in. */
function emit(map: YamlMap, indent: number): string[] {
  const pad = " ".repeat(indent);
  return Object.entries(map).flatMap(([key, value]) => {
    const name = scalar(key);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      if ("flow" in value && typeof value.flow === "string")
        return [`${pad}${name}: ${value.flow}`];
      return [`${pad}${name}:`, ...emit(value as YamlMap, indent + 2)];
    }
    return [`${pad}${name}: ${scalar(value as Exclude<Yaml, YamlMap>)}`];
  });
}

export function toYaml(config: YamlMap | YamlMap[]): string {
  if (!Array.isArray(config)) return `${emit(config, 0).join("\n")}\n`;
  const steps = config.map((step) => {
    const [first, ...rest] = emit(step, 4);
    return [`  - ${first.trimStart()}`, ...rest].join("\n");
  });
  return `steps:\n${steps.join("\n")}\n`;
}

/** Reads the form's named fields. */
export class FormFields {
  constructor(private readonly form: HTMLFormElement) {}

  private field(name: string): HTMLInputElement | HTMLSelectElement {
    const field = this.form.elements.namedItem(name);
    if (!field) throw new Error(`the form has no field ${name}`);
    return field as HTMLInputElement | HTMLSelectElement;
  }

  text(name: string): string {
    return this.field(name).value.trim();
  }

  number(name: string): number | undefined {
    const text = this.text(name);
    return text === "" ? undefined : Number(text);
  }

  checked(name: string): boolean {
    return (this.field(name) as HTMLInputElement).checked;
  }

  family(): string {
    const checked = this.form.querySelector<HTMLInputElement>('input[name="family"]:checked');
    return checked?.value ?? "linear";
  }
}

/** Fills the selects whose choices come from the library's own lists. */
export function fillChoices(form: HTMLFormElement): void {
  const options = (name: string, values: readonly (string | number)[], selected?: string) => {
    const select = form.elements.namedItem(name) as HTMLSelectElement;
    for (const value of values) {
      select.append(h("option", { value, selected: String(value) === selected }, value));
    }
  };
  options("linear.mode", QUANTIZATION_MODES);
  options("linear.dtype", QUANTIZATION_DTYPES);
  options("linear.granularity", QUANTIZATION_GRANULARITIES, "per_channel");
  options(
    "palettize.mode",
    PALETTIZATION_MODES.filter((m) => m !== "custom"),
  );
  options("palettize.nbits", PALETTIZATION_NBITS, "4");
  options("palettize.granularity", PALETTIZATION_GRANULARITIES);
  options("nn.mode", NEURAL_MODES);
  options("target", Object.keys(TARGETS));
  const choices = form.querySelector("#family-choices")!;
  for (const [value, { label }] of Object.entries(FAMILIES)) {
    choices.append(
      h(
        "label",
        { class: "check" },
        h("input", { type: "radio", name: "family", value, checked: value === "linear" }),
        ` ${label}`,
      ),
    );
  }
}

/** One row of the overrides table. */
export interface Override {
  step: number;
  by: "op_type" | "op_name";
  name: string;
  /** "skip", or a YAML mapping (with or without its braces). */
  settings: string;
}

function stepConfig(kind: StepKind, f: FormFields): YamlMap {
  if (kind === "linear") {
    const granularity = f.text("linear.granularity");
    return {
      config_type: "OpLinearQuantizerConfig",
      global_config: {
        mode: f.text("linear.mode"),
        dtype: f.text("linear.dtype"),
        granularity,
        ...(granularity === "per_block" && { block_size: f.number("linear.block_size") ?? 32 }),
        weight_threshold: f.number("linear.weight_threshold") ?? 2048,
      },
    };
  }
  if (kind === "palettize") {
    const mode = f.text("palettize.mode");
    const granularity = f.text("palettize.granularity");
    const clusterDim = f.number("palettize.cluster_dim") ?? 1;
    return {
      config_type: "OpPalettizerConfig",
      global_config: {
        mode,
        ...(mode !== "unique" && { nbits: Number(f.text("palettize.nbits")) }),
        granularity,
        ...(granularity === "per_grouped_channel" && {
          group_size: f.number("palettize.group_size") ?? 16,
        }),
        ...(clusterDim > 1 && { cluster_dim: clusterDim }),
        ...(f.checked("palettize.enable_per_channel_scale") && { enable_per_channel_scale: true }),
        weight_threshold: f.number("palettize.weight_threshold") ?? 2048,
      },
    };
  }
  const method = f.text("prune.method");
  const weightThreshold = f.number("prune.weight_threshold") ?? 2048;
  if (method === "threshold") {
    return {
      config_type: "OpThresholdPrunerConfig",
      global_config: {
        threshold: f.number("prune.threshold") ?? 0,
        weight_threshold: weightThreshold,
      },
    };
  }
  const blockSize = f.number("prune.block_size") ?? 0;
  const ratio = f.text("prune.n_m_ratio").split(":").map(Number);
  return {
    config_type: "OpMagnitudePrunerConfig",
    global_config:
      method === "n_m"
        ? { n_m_ratio: ratio, weight_threshold: weightThreshold }
        : {
            target_sparsity: f.number("prune.target_sparsity") ?? 0.5,
            ...(blockSize > 1 && { block_size: blockSize }),
            weight_threshold: weightThreshold,
          },
  };
}

function overrideValue(settings: string): Yaml {
  const text = settings.trim();
  if (text === "" || text.toLowerCase() === "skip" || text === "null") return null;
  return { flow: text.startsWith("{") ? text : `{ ${text} }` };
}

/** The config YAML the form describes. */
export function configYaml(f: FormFields, overrides: readonly Override[]): string {
  const kinds = FAMILIES[f.family()].steps;
  const steps = kinds.map((kind, index) => {
    const config = stepConfig(kind, f);
    for (const key of ["op_type", "op_name"] as const) {
      const entries = overrides.filter((o) => o.by === key && o.step === index && o.name);
      if (entries.length > 0) {
        config[`${key}_configs`] = Object.fromEntries(
          entries.map((o) => [o.name, overrideValue(o.settings)]),
        );
      }
    }
    return index > 0 ? { ...config, joint_compression: true } : config;
  });
  return toYaml(steps.length === 1 ? steps[0] : steps);
}

export function stepLabels(family: string): string[] {
  return FAMILIES[family].steps.map((kind) => STEP_LABELS[kind]);
}

const list = (text: string) =>
  text
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);

export function neuralSettings(f: FormFields): NeuralSettings {
  return {
    nbits: Number(f.text("nn.nbits")),
    mode: f.text("nn.mode"),
    skipLayerTypes: list(f.text("nn.skip_layer_types")),
    skipLayers: list(f.text("nn.skip_layers")),
    minConvChannels: f.number("nn.min_conv_channels"),
    minWeightCount: f.number("nn.min_weight_count"),
  };
}

/** Quotes a word for a POSIX shell when it needs it. */
const shellWord = (word: string) =>
  /^[\w./:=,+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;

/** The CLI command that does what the form does. */
export function commandLine(
  model: { name: string; kind: "mlpackage" | "mlmodel" },
  f: FormFields,
): string {
  const input = `${model.name}.${model.kind}`;
  const output = `${model.name}-compressed.${model.kind}`;
  const words =
    model.kind === "mlmodel"
      ? neuralFlags(neuralSettings(f))
      : [
          "compress",
          "--config",
          "config.yaml",
          ...(f.text("target") ? ["--target", f.text("target")] : []),
        ];
  const [command, ...flags] = words;
  return ["coreml-optimize", command, input, "-o", output, ...flags].map(shellWord).join(" ");
}

function neuralFlags(s: NeuralSettings): string[] {
  return [
    "quantize-weights",
    "--nbits",
    String(s.nbits),
    "--mode",
    s.mode,
    ...(s.skipLayerTypes.length > 0 ? ["--skip-layer-types", s.skipLayerTypes.join(",")] : []),
    ...(s.minConvChannels !== undefined ? ["--min-conv-channels", String(s.minConvChannels)] : []),
    ...(s.minWeightCount !== undefined ? ["--min-weight-count", String(s.minWeightCount)] : []),
    ...(s.skipLayers.length > 0 ? ["--skip-layers", s.skipLayers.join(",")] : []),
  ];
}
