/** `coreml-optimize evaluate MODEL --metric perplexity|top1`: a model's task quality. */
import type { Command } from "commander";
import { agreement, perplexity } from "../../analysis/task-metrics.js";
import { ConfigError } from "../../errors.js";
import { loadRunner } from "../../runtime/runner.js";
import { formatTable } from "../format.js";
import { sampleOptions, samplesFromFlags, type SampleFlags } from "../inputs.js";
import { parseStage } from "../flags.js";
import { printJson, withInterpreterPool, withModel } from "../run.js";
import type { MLModel } from "../../format/model.js";

interface EvaluateFlags extends SampleFlags {
  metric: string;
  reference?: string;
  stage?: string;
  json?: boolean;
}

const METRICS = ["perplexity", "top1"];

export function registerEvaluate(program: Command): void {
  const command = program
    .command("evaluate")
    .description(
      "measure a model's task quality: perplexity of a language model on token windows, or top-1 agreement with a reference model",
    )
    .argument("<model>", "the model to evaluate (e.g. a compressed one)")
    .option("--metric <name>", `${METRICS.join(" or ")}`, "perplexity")
    .option(
      "--reference <model>",
      "the model to measure against (required for top1; with perplexity, also evaluated)",
    )
    .option("--stage <n>", "for pipelines: run only this stage")
    .option("--json", "print machine-readable JSON");
  sampleOptions(command).action(async (modelPath: string, flags: EvaluateFlags) => {
    if (!METRICS.includes(flags.metric)) {
      throw new ConfigError(`--metric: expected ${METRICS.join(" or ")}, got "${flags.metric}"`);
    }
    if (flags.metric === "top1" && !flags.reference) {
      throw new ConfigError("--metric top1: give the model to agree with as --reference");
    }
    const load = { pipelineStage: parseStage(flags.stage) };
    const withReference = <T>(work: (reference?: MLModel) => Promise<T>) =>
      flags.reference ? withModel(flags.reference, work) : work(undefined);
    const report = await withInterpreterPool((pool) =>
      withModel(modelPath, (model) =>
        withReference(async (reference) => {
          const runner = await loadRunner(model, { ...load, pool });
          const base = reference && (await loadRunner(reference, { ...load, pool }));
          const samples = await samplesFromFlags(flags, (base ?? runner).inputs);
          const names = {
            model: modelPath,
            ...(flags.reference && { reference: flags.reference }),
          };
          if (flags.metric === "top1") {
            return {
              ...names,
              samples: samples.length,
              agreement: agreement(base!, runner, samples),
            };
          }
          const ours = perplexity(runner, samples);
          const theirs = base && perplexity(base, samples);
          return {
            ...names,
            samples: samples.length,
            perplexity: ours.perplexity,
            crossEntropy: ours.crossEntropy,
            tokens: ours.tokens,
            ...(theirs && {
              referencePerplexity: theirs.perplexity,
              change: ours.perplexity / theirs.perplexity - 1,
            }),
          };
        }),
      ),
    );
    if (flags.json) {
      printJson(report);
      return;
    }
    const lines = [`${report.model}, ${report.samples} sample(s):`];
    if ("agreement" in report) {
      const a = report.agreement;
      lines.push(
        formatTable(
          ["against", "top-1 agreement", "top-5", "mean KL", "SNR dB"],
          [
            [
              flags.reference!,
              percent(a.top1),
              percent(a.top5),
              a.meanKl.toPrecision(3),
              a.snrDb.toFixed(1),
            ],
          ],
        ),
      );
    } else {
      const rows = [[modelPath, report.perplexity.toFixed(4), report.crossEntropy.toFixed(5), ""]];
      if (report.referencePerplexity !== undefined) {
        rows.unshift([flags.reference!, report.referencePerplexity.toFixed(4), "", ""]);
        rows[1][3] = `${(report.change! * 100).toFixed(2)}%`;
      }
      lines.push(formatTable(["model", "perplexity", "CE nats", "change"], rows));
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  });
}

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
