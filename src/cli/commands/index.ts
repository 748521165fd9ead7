import type { Command } from "commander";
import { registerPalettize } from "./palettize.js";
import { registerQuantize } from "./quantize.js";

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: ((program: Command) => void)[] = [registerQuantize, registerPalettize];
