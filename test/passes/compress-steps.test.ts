import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseCompressionSteps } from "../../src/config/steps.js";
import { ConfigError } from "../../src/errors.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import { compressInSteps } from "../../src/passes/compress-steps.js";
import { allOperations } from "../../src/program/walk.js";
import { runCli } from "../support/cli.js";
import { assertSameProgram, goldenCases, goldenPath } from "../support/golden.js";

const work = await mkdtemp(join(tmpdir(), "coreml-optimize-steps-test-"));
after(() => rm(work, { recursive: true, force: true }));

const constexprTypes = (model: MLModel) =>
  model.spec.Type.case === "mlProgram"
    ? [...allOperations(model.spec.Type.value)]
        .map(({ op }) => op.type)
        .filter((t) => t.startsWith("constexpr_"))
        .sort()
    : [];

for (const golden of goldenCases((c) => c.name.startsWith("joint_"))) {
  test(`${golden.name} from its list of steps`, async () => {
    const base = await loadModel(goldenPath(golden.base));
    const reference = await loadModel(goldenPath(golden.output));
    try {
      const { model, steps } = await compressInSteps(base, parseCompressionSteps(golden.config));
      try {
        assert.equal(steps.length, 2);
        assert.deepEqual(constexprTypes(model), constexprTypes(reference));
        // The k-means steps may pick other (never worse) tables; int8 after pruning is exact.
        if (golden.name.startsWith("joint_prune50_int8"))
          await assertSameProgram(model, reference, golden.name);
      } finally {
        await model.close();
      }
    } finally {
      await base.close();
      await reference.close();
    }
  });
}

test("step lists: a single config is one step; bad lists name the step", () => {
  const single = parseCompressionSteps({
    config_type: "OpLinearQuantizerConfig",
    global_config: { dtype: "int4" },
  });
  assert.equal(single.length, 1);
  assert.equal(single[0].joint, false);
  assert.throws(() => parseCompressionSteps({ steps: [] }), /steps: expected a non-empty list/);
  assert.throws(
    () =>
      parseCompressionSteps({
        steps: [{ config_type: "OpPalettizerConfig", global_config: { nbits: 5 } }],
      }),
    (e: unknown) => e instanceof ConfigError && /^steps\[0\]\.global_config\.nbits/.test(e.message),
  );
  assert.throws(
    () =>
      parseCompressionSteps({
        steps: [{ config_type: "OpLinearQuantizerConfig", joint_compression: true }],
      }),
    /steps\[0\]\.joint_compression: the first step has nothing to join/,
  );
  assert.throws(() => parseCompressionSteps({ steps: [], extra: 1 }), /extra: unknown key/);
});

test("coreml-optimize compress runs the steps of a YAML file", async () => {
  const config = join(work, "steps.yaml");
  await writeFile(
    config,
    [
      "steps:",
      "  - config_type: OpMagnitudePrunerConfig",
      "    global_config: { target_sparsity: 0.5 }",
      "  - config_type: OpLinearQuantizerConfig",
      "    global_config: { dtype: int8 }",
      "    joint_compression: true",
    ].join("\n"),
  );
  const out = join(work, "joint.mlpackage");
  const result = runCli(
    "compress",
    goldenPath("bases/zoo_fp16_ios18.mlpackage"),
    "-o",
    out,
    "--config",
    config,
    "--json",
  );
  assert.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { steps: { pass: string; weights: unknown[] }[] };
  assert.deepEqual(
    report.steps.map((s) => s.pass),
    ["prune_weights", "linear_quantize_weights"],
  );
  const model = await loadModel(out);
  assert.ok(constexprTypes(model).includes("constexpr_sparse_blockwise_shift_scale"));
  await model.close();
  const bad = runCli(
    "compress",
    goldenPath("bases/zoo_fp16_ios18.mlpackage"),
    "-o",
    join(work, "bad.mlpackage"),
    "--config",
    join(work, "missing.yaml"),
  );
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /missing\.yaml: no such file/);
});
