#!/usr/bin/env node
/**
 * The `coreml-optimize` command line. Each subcommand lives in its own module under
 * `commands/` and registers itself on the program.
 */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { COMMANDS } from "./commands/index.js";
import { commitTemporaries } from "../format/temporaries.js";
import { installProcessHandlers, reportFailure } from "./process.js";

const { version } = JSON.parse(
  readFileSync(new URL("../../../package.json", import.meta.url), "utf8"),
) as { version: string };

/** Commander's own errors (unknown option, missing argument) as one line, like ours. */
const oneLine = (text: string) =>
  `coreml-optimize: ${text.replace(/^error: /, "").trim()} (see --help)\n`;

const program = new Command("coreml-optimize")
  .description("Compress, inspect and run the weights of Core ML models.")
  .version(version)
  .option("--debug", "print the stack trace of internal errors")
  .configureOutput({ outputError: (text, write) => write(oneLine(text)) });

installProcessHandlers();

for (const register of COMMANDS) register(program);

program.parseAsync(process.argv).then(commitTemporaries, reportFailure);
