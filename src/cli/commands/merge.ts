/**
 * `coreml-optimize merge a.mlpackage:main=prefill b.mlpackage:main=decode -o out.mlpackage`:
 * functions of several ML programs in one multifunction package, identical weights stored once.
 */
import { stat } from "node:fs/promises";
import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import { loadModel, type MLModel } from "../../format/model.js";
import { mergeModels, type MergeSource } from "../../program/merge.js";
import { validateProgram } from "../../program/validate.js";
import { outputOptions, runWrite, type OutputFlags } from "../write-command.js";
import { formatBytes, formatTable } from "../format.js";

interface MergeFlags extends OutputFlags {
  default?: string;
}

/** `PATH[:FUNCTION][=NAME]`: a package, the function to take, the name to give it. */
export function parseMergeArgument(text: string): {
  path: string;
  functionName?: string;
  as?: string;
} {
  const match = /^(.*?\.(?:mlpackage|mlmodel))\/?(?::([^=/\\]+))?(?:=([^=/\\]+))?$/.exec(text);
  if (!match) {
    throw new ConfigError(
      `merge ${text}: expected PATH.mlpackage[:FUNCTION][=NAME], e.g. prefill.mlpackage:main=prefill`,
    );
  }
  return {
    path: match[1],
    ...(match[2] && { functionName: match[2] }),
    ...(match[3] && { as: match[3] }),
  };
}

async function folderBytes(path: string): Promise<number> {
  const { readdir } = await import("node:fs/promises");
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path)) total += await folderBytes(`${path}/${entry}`);
  return total;
}

export function registerMerge(program: Command): void {
  const command = program
    .command("merge")
    .description(
      "Put functions of several ML programs into one multifunction package (coremltools' save_multifunction); identical weights are stored once.",
    )
    .argument(
      "<inputs...>",
      "PATH.mlpackage[:FUNCTION][=NAME] (default: its default function, same name)",
    )
    .option("--default <name>", "the merged model's default function (default: the first)");
  outputOptions(command, "merged")
    .addHelpText(
      "after",
      `
Examples:
  coreml-optimize merge prefill.mlpackage:main=prefill decode.mlpackage:main=decode -o llm.mlpackage
  coreml-optimize merge base.mlpackage=base adapter.mlpackage=adapter -o both.mlpackage --default base`,
    )
    .action(async (inputs: string[], flags: MergeFlags) => {
      const parsed = inputs.map(parseMergeArgument);
      const paths = [...new Set(parsed.map((p) => p.path))];
      await runWrite({
        command: "merge",
        input: parsed[0].path,
        flags,
        otherInputs: paths.slice(1),
        verb: "merged",
        work: async (first) => {
          const loaded = new Map<string, MLModel>([[parsed[0].path, first]]);
          try {
            for (const path of paths.slice(1)) {
              const model = await loadModel(path);
              loaded.set(path, model);
              await validateProgram(model);
            }
            const sources: MergeSource[] = parsed.map((p) => ({
              model: loaded.get(p.path)!,
              label: p.path,
              ...(p.functionName && { functionName: p.functionName }),
              ...(p.as && { as: p.as }),
            }));
            const result = await mergeModels(sources, {
              ...(flags.default && { defaultFunction: flags.default }),
            });
            let sizeBefore = 0;
            for (const path of paths) sizeBefore += await folderBytes(path);
            const table = formatTable(
              ["function", "from"],
              result.functions.map((f) => [f.name, `${f.source}:${f.from}`]),
            );
            return {
              model: result.model,
              weights: [],
              skipped: [],
              changed: result.functions.length,
              text:
                `${table}\n` +
                `${result.blobs.referenced} blobs, ${result.blobs.stored} stored: ` +
                `${formatBytes(result.bytesSaved)} of identical weights stored once\n`,
              extra: {
                sizeBefore,
                inputs,
                functions: result.functions,
                defaultFunction: result.model.spec.description?.defaultFunctionName,
                blobs: result.blobs,
                bytesSaved: result.bytesSaved,
              },
            };
          } finally {
            for (const [path, model] of loaded) if (path !== parsed[0].path) await model.close();
          }
        },
      });
    });
}
