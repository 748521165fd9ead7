import type { Command } from "commander";
import { registerQuantizeWeights } from "./quantize-weights.js";

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: ((program: Command) => void)[] = [registerQuantizeWeights];
