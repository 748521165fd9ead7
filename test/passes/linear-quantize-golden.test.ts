import { test } from "node:test";
import {
  parseOptimizationConfig,
  type OpLinearQuantizerConfig,
  type OptimizationConfig,
} from "../../src/config/index.js";
import { loadModel } from "../../src/format/model.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { assertSameProgram, goldenCases, goldenPath } from "../support/golden.js";

const cases = goldenCases(
  (c) => c.api === "linear_quantize_weights" && /^(lq|config)_/.test(c.name),
);

test("golden lq_* and config_* cases are present", { skip: cases.length === 0 }, () => {});

for (const c of cases) {
  test(`golden ${c.name}: bit-identical to coremltools`, async () => {
    const base = await loadModel(goldenPath(c.base));
    const golden = await loadModel(goldenPath(c.output));
    const config = parseOptimizationConfig(c.config) as OptimizationConfig<OpLinearQuantizerConfig>;
    const { model } = await linearQuantizeWeights(base, config);
    try {
      await assertSameProgram(model, golden, c.name);
    } finally {
      await model.close();
      await base.close();
      await golden.close();
    }
  });
}
