/**
 * Runs one benchmark task in this process and prints its times and peak memory as JSON:
 * `task.js NAME INPUT OUTPUT`, or `task.js generate SIZE_BYTES HIDDEN OUTPUT`.
 */
import { generateTransformer, shapeForBytes } from "./model.js";
import { TASKS } from "./tasks.js";

const [name, ...args] = process.argv.slice(2);

async function generate(bytes: string, hidden: string, output: string): Promise<void> {
  const model = await generateTransformer(shapeForBytes(Number(bytes), Number(hidden)));
  await model.save(output);
  await model.close();
}

const task = TASKS[name];
if (name !== "generate" && !task) throw new Error(`unknown bench task ${name}`);
const start = performance.now();
const cpuStart = process.cpuUsage();
if (name === "generate") await generate(args[0], args[1], args[2]);
else await task.run(args[0], args[1]);
const seconds = (performance.now() - start) / 1000;
// All threads' CPU time: a fair measure when other processes share the cores.
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
process.stdout.write(
  JSON.stringify({ seconds, cpuSeconds, peakRssBytes: process.resourceUsage().maxRSS * 1024 }),
);
