import type { Command } from "commander";
import { registerCompress } from "./compress.js";
import { registerDecompress } from "./decompress.js";
import { registerInspect } from "./inspect.js";
import { registerPalettize } from "./palettize.js";
import { registerPrune } from "./prune.js";
import { registerQuantize } from "./quantize.js";
import { registerQuantizeWeights } from "./quantize-weights.js";
import { registerCompare } from "./compare.js";
import { registerPredict } from "./predict.js";
import { registerQuantizeActivations } from "./quantize-activations.js";
import { registerServe } from "./serve.js";
import { registerEvaluate } from "./evaluate.js";
import { registerSensitivity } from "./sensitivity.js";
import { registerRecipe } from "./recipe.js";
import { registerMerge } from "./merge.js";
import { registerSplit } from "./split.js";

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: ((program: Command) => void)[] = [
  registerInspect,
  registerDecompress,
  registerQuantize,
  registerPalettize,
  registerPrune,
  registerCompress,
  registerQuantizeWeights,
  registerQuantizeActivations,
  registerPredict,
  registerCompare,
  registerEvaluate,
  registerSensitivity,
  registerRecipe,
  registerMerge,
  registerSplit,
  registerServe,
];
