/** Runs one benchmark task in this process and prints its time and peak memory as JSON. */
import { TASKS } from "./tasks.js";

const [name, input, output] = process.argv.slice(2);
const task = TASKS[name];
if (!task) throw new Error(`unknown bench task ${name}`);
const start = performance.now();
await task(input, output);
const seconds = (performance.now() - start) / 1000;
process.stdout.write(
  JSON.stringify({ seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024 }),
);
