import type { Command } from "commander";

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: ((program: Command) => void)[] = [];
