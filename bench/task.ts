/** Runs one benchmark task in this process and prints its times and peak memory as JSON. */
import { TASKS } from "./tasks.js";

const [name, input, output] = process.argv.slice(2);
const task = TASKS[name];
if (!task) throw new Error(`unknown bench task ${name}`);
const start = performance.now();
const cpuStart = process.cpuUsage();
await task.run(input, output);
const seconds = (performance.now() - start) / 1000;
// All threads' CPU time: a fair measure when other processes share the cores.
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
process.stdout.write(
  JSON.stringify({ seconds, cpuSeconds, peakRssBytes: process.resourceUsage().maxRSS * 1024 }),
);
