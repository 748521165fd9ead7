#!/usr/bin/env node
/**
 * The `coreml-optimize` command line. Each subcommand lives in its own module under
 * `commands/` and registers itself on the program.
 */
import { Command } from "commander";
import { COMMANDS } from "./commands/index.js";
import { commitTemporaries } from "../format/temporaries.js";
import { installProcessHandlers, reportFailure } from "./process.js";

const program = new Command("coreml-optimize")
  .description("Compress, inspect and run the weights of Core ML models.")
  .version(process.env.npm_package_version ?? "0.1.0")
  .showHelpAfterError()
  .option("--debug", "print the stack trace of internal errors")
  .configureOutput({ outputError: (text, write) => write(text) });

installProcessHandlers();

for (const register of COMMANDS) register(program);

program.parseAsync(process.argv).then(commitTemporaries, reportFailure);
