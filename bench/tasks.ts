/** Benchmark tasks: each reads a model and (mostly) writes one, timed in its own process. */
import { loadModel } from "../src/format/model.js";
import { constValue, opName } from "../src/program/ops.js";
import { rewriteWeights } from "../src/program/rewriter.js";
import { readTensorValue } from "../src/program/values.js";
import { allOperations } from "../src/program/walk.js";

export type BenchTask = (input: string, output: string) => Promise<void>;

export const TASKS: Record<string, BenchTask> = {
  /** Reads every weight tensor (random access by offset). */
  async read(input) {
    const model = await loadModel(input);
    try {
      if (model.spec.Type.case !== "mlProgram") return;
      for (const { op } of allOperations(model.spec.Type.value)) {
        const value = constValue(op);
        if (value) await readTensorValue(value, model, opName(op));
      }
    } finally {
      await model.close();
    }
  },
  /** Streams every weight through the rewriter into a new package. */
  async copy(input, output) {
    const model = await loadModel(input);
    try {
      const copy = await rewriteWeights(model, async () => undefined);
      await copy.save(output);
      await copy.close();
    } finally {
      await model.close();
    }
  },
};
