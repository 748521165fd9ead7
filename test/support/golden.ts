/** The golden cases coremltools produced, as far as their files are present. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { GOLDEN } from "./paths.js";

export interface GoldenCase {
  name: string;
  base: string;
  api: string;
  config: Record<string, unknown>;
  output: string;
}

/** Cases whose name starts with `prefix` and whose base and output files exist. */
export function goldenCases(
  prefix: string,
): (GoldenCase & { basePath: string; outputPath: string })[] {
  const file = join(GOLDEN, "cases.json");
  if (!existsSync(file)) return [];
  const { cases } = JSON.parse(readFileSync(file, "utf8")) as { cases: GoldenCase[] };
  return cases
    .filter((c) => c.name.startsWith(prefix))
    .map((c) => ({ ...c, basePath: join(GOLDEN, c.base), outputPath: join(GOLDEN, c.output) }))
    .filter((c) => existsSync(c.basePath) && existsSync(c.outputPath));
}
