import type { Command } from "commander";
import { registerDecompress } from "./decompress.js";
import { registerInspect } from "./inspect.js";

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: ((program: Command) => void)[] = [registerInspect, registerDecompress];
