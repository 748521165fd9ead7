/**
 * Bits per layer from measured sensitivity: each weight gets one candidate config (or stays as
 * it is) so that the summed output damage is smallest within a size budget, or the size is
 * smallest for a quality floor. Damage is taken as additive over weights (independent small
 * errors): the output noise powers add, and so do small KL divergences. The allocation is a
 * multiple-choice knapsack solved exactly by dynamic programming over the bytes each weight
 * adds above its smallest option, counted in ALLOCATION_STEPS steps of the room there is (a
 * greedy walk up the bytes-for-damage frontier misses combinations where one large upgrade
 * beats several small ones).
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

/** The allocation's resolution: each option's extra bytes are rounded up to 1/20000 of the room. */
const ALLOCATION_STEPS = 20_000;

/**
 * One option per weight with the least summed cost whose extra bytes fit `room` (above the
 * smallest options), or, given `maxCost`, the fewest bytes whose cost is at most that.
 * Among recipes of equal cost the smallest wins.
 */
function allocate(options: Option[][], room: number, maxCost?: number): Option[] {
  const step = room / ALLOCATION_STEPS || 1;
  const extras = options.map((list) =>
    list.map((o) => Math.ceil((o.bytes - list[0].bytes) / step)),
  );
  const picks = options.map(() => new Int16Array(ALLOCATION_STEPS + 1));
  // best[b]: the least cost of the weights so far within b steps.
  let best = new Float64Array(ALLOCATION_STEPS + 1);
  options.forEach((list, i) => {
    const next = new Float64Array(ALLOCATION_STEPS + 1).fill(Infinity);
    list.forEach((option, k) => {
      for (let b = extras[i][k]; b <= ALLOCATION_STEPS; b++) {
        const cost = best[b - extras[i][k]] + option.cost;
        if (cost < next[b]) {
          next[b] = cost;
          picks[i][b] = k;
        }
      }
    });
    best = next;
  });
  const bound = (maxCost ?? best[ALLOCATION_STEPS]) * (1 + 1e-12);
  let b = best.findIndex((cost) => cost <= bound);
  if (b < 0) b = ALLOCATION_STEPS;
  const chosen: Option[] = [];
  for (let i = options.length - 1; i >= 0; i--) {
    const k = picks[i][b];
    chosen[i] = options[i][k];
    b -= extras[i][k];
  }
  return chosen;
}

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
  const smallest = options.reduce((n, list) => n + list[0].bytes, 0);
  if (smallest > budget) {
    throw new ConfigError(
      `the target is below the smallest recipe the candidates allow (${((smallest * 8) / elements).toFixed(2)} bits per weight, ${smallest} bytes)`,
    );
  }
  // Room for every weight's largest option: keeping weights as they are costs nothing, so a
  // quality floor is always met within it.
  const spread = options.reduce((n, list) => n + list.at(-1)!.bytes - list[0].bytes, 0);
  const chosen =
    "minSnrDb" in target
      ? allocate(options, spread, noisePower(target.minSnrDb))
      : allocate(options, Math.min(spread, budget - smallest));
  const bytes = chosen.reduce((n, o) => n + o.bytes, 0);
  const noise = () => chosen.reduce((n, o) => n + o.noise, 0);
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
