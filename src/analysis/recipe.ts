/**
 * Bits per layer from measured sensitivity: each weight gets one candidate config (or stays as
 * it is) so that the summed output damage is smallest within a size budget, or the size is
 * smallest for a quality floor. Damage is taken as additive over weights (independent small
 * errors): the output noise powers add, and so do small KL divergences. The allocation is
 * greedy on the efficiency frontier: start every weight at its smallest option and keep taking
 * the upgrade that buys the most damage reduction per byte while it fits.
 */
import { PALETTIZER } from "../config/palettizer.js";
import type { OpConfig } from "../config/optimization-config.js";
import type { CompressionStep } from "../config/steps.js";
import { ConfigError } from "../errors.js";
import type { LayerQuantization } from "../passes/neural-quantize.js";
import { neuralSettings } from "./neural-sensitivity.js";
import type { SensitivityTable } from "./sensitivity.js";

/** What the recipe aims at: average bits per weight, total bytes, or output SNR (dB). */
export type RecipeTarget = { bits: number } | { bytes: number } | { minSnrDb: number };

export interface RecipeChoice {
  weight: string;
  /** The candidate's label, or null: the weight stays as it is. */
  candidate: string | null;
  config: OpConfig | null;
  bytes: number;
  bitsPerWeight: number;
  /** Measured with this weight alone compressed. */
  snrDb: number;
  meanKl?: number;
}

export interface RecipePrediction {
  /** Bytes of the weights the table covers, and bits per element of them. */
  bytes: number;
  bitsPerWeight: number;
  /** Output SNR from the summed noise powers of the weights' trials. */
  snrDb: number;
  /** Summed mean KL of the weights' trials (class-score outputs). */
  meanKl?: number;
}

export interface Recipe {
  target: RecipeTarget;
  choices: RecipeChoice[];
  predicted: RecipePrediction;
}

interface Option extends RecipeChoice {
  /** What the allocation minimizes: KL for class scores, else output noise power. */
  cost: number;
  noise: number;
}

function asChoice(option: Option): RecipeChoice {
  const choice: RecipeChoice & Partial<Pick<Option, "cost" | "noise">> = { ...option };
  delete choice.cost;
  delete choice.noise;
  return choice;
}

const noisePower = (snrDb: number) => (snrDb === Infinity ? 0 : 10 ** (-snrDb / 10));

/** Chooses a config per weight of `table` for `target`. */
export function chooseRecipe(table: SensitivityTable, target: RecipeTarget): Recipe {
  const useKl = table.scores && !("minSnrDb" in target);
  const configs = new Map(table.candidates.map((c) => [c.label, c.config]));
  const options = table.weights.map((w): Option[] => {
    const keep: Option = {
      weight: w.name,
      candidate: null,
      config: null,
      bytes: w.bytes,
      bitsPerWeight: (w.bytes * 8) / w.elements,
      snrDb: Infinity,
      ...(table.scores && { meanKl: 0 }),
      cost: 0,
      noise: 0,
    };
    const trials = table.trials
      .filter((t) => t.weight === w.name)
      .map((t): Option => ({
        weight: w.name,
        candidate: t.candidate,
        config: configs.get(t.candidate) ?? null,
        bytes: t.bytes,
        bitsPerWeight: t.bitsPerWeight,
        snrDb: t.snrDb,
        ...(t.meanKl !== undefined && { meanKl: t.meanKl }),
        noise: noisePower(t.snrDb),
        cost: useKl ? Math.max(t.meanKl ?? 0, 0) : noisePower(t.snrDb),
      }));
    return [...trials, keep].sort((a, b) => a.bytes - b.bytes || a.cost - b.cost);
  });
  const elements = table.weights.reduce((n, w) => n + w.elements, 0);
  const budget =
    "bits" in target ? (target.bits * elements) / 8 : "bytes" in target ? target.bytes : Infinity;
  const chosen = options.map((list) => list[0]);
  let bytes = chosen.reduce((n, o) => n + o.bytes, 0);
  if (bytes > budget) {
    throw new ConfigError(
      `the target is below the smallest recipe the candidates allow (${((bytes * 8) / elements).toFixed(2)} bits per weight, ${bytes} bytes)`,
    );
  }
  const noiseFloor = "minSnrDb" in target ? noisePower(target.minSnrDb) : 0;
  const noise = () => chosen.reduce((n, o) => n + o.noise, 0);
  for (;;) {
    if ("minSnrDb" in target && noise() <= noiseFloor) break;
    let best: { index: number; option: Option; gain: number } | undefined;
    chosen.forEach((current, index) => {
      for (const option of options[index]) {
        const extra = option.bytes - current.bytes;
        const saved = current.cost - option.cost;
        if (extra <= 0 || saved <= 0 || bytes + extra > budget) continue;
        const gain = saved / extra;
        if (!best || gain > best.gain) best = { index, option, gain };
      }
    });
    if (!best) break;
    bytes += best.option.bytes - chosen[best.index].bytes;
    chosen[best.index] = best.option;
  }
  const predicted: RecipePrediction = {
    bytes,
    bitsPerWeight: (bytes * 8) / elements,
    snrDb: noise() === 0 ? Infinity : -10 * Math.log10(noise()),
    ...(table.scores && { meanKl: chosen.reduce((n, o) => n + (o.meanKl ?? 0), 0) }),
  };
  return { target, choices: chosen.map(asChoice), predicted };
}

/**
 * The recipe as compression steps: one step per kind of config (palettization first), each
 * naming its weights in `op_name_configs`; weights that stay as they are are not named.
 */
export function recipeSteps(recipe: Recipe): CompressionStep[] {
  const byKind = new Map<string, Record<string, OpConfig>>();
  for (const choice of recipe.choices) {
    if (!choice.config) continue;
    const entries = byKind.get(choice.config.kind) ?? {};
    entries[choice.weight] = choice.config;
    byKind.set(choice.config.kind, entries);
  }
  return [...byKind]
    .sort(([a], [b]) => Number(b === PALETTIZER) - Number(a === PALETTIZER))
    .map(([, opNameConfigs]) => ({ config: { opNameConfigs }, joint: false }));
}

/**
 * The recipe of a neural network as quantize_weights settings per layer (its choices are
 * layers); layers that stay as they are are not named.
 */
export function recipeLayers(recipe: Recipe): Record<string, LayerQuantization> {
  const layers: Record<string, LayerQuantization> = {};
  for (const choice of recipe.choices) {
    if (!choice.config) continue;
    const settings = neuralSettings(choice.config);
    if (typeof settings === "string") throw new ConfigError(`${choice.weight}: ${settings}`);
    layers[choice.weight] = settings;
  }
  return layers;
}
