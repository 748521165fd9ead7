import assert from "node:assert/strict";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  linearQuantizerConfig,
  magnitudePrunerConfig,
  palettizerConfig,
  thresholdPrunerConfig,
  type OpConfig,
  type OpLinearQuantizerConfig,
  type OptimizationConfig,
} from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";
import { loadModel, type MLModel } from "../../src/format/model.js";
import type { Program } from "../../src/format/gen/MIL_pb.js";
import { elementCount } from "../../src/kernels/dtype.js";
import { opName } from "../../src/program/ops.js";
import { allOperations } from "../../src/program/walk.js";
import {
  affineQuantizeWeights,
  decompressWeights as legacyDecompress,
  palettizeWeights as legacyPalettize,
  selectorConfig,
  sparsifyWeights,
} from "../../src/passes/compression-utils.js";
import { decompressWeights } from "../../src/passes/decompress.js";
import { linearQuantizeWeights } from "../../src/passes/linear-quantize.js";
import { palettizeWeights } from "../../src/passes/palettize.js";
import { pruneWeights } from "../../src/passes/prune.js";
import { GOLDEN } from "../support/paths.js";

const BASE = join(GOLDEN, "bases/zoo_fp16_ios16.mlpackage");

describe("compression_utils aliases", () => {
  let dir = "";
  let base: MLModel;
  let saved = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "compression-utils-"));
    base = await loadModel(BASE);
  });
  after(async () => {
    await base.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The saved program and weight file of `model`, which is closed. */
  async function bytesOf(model: MLModel): Promise<Buffer[]> {
    const path = join(dir, `m${saved++}.mlpackage`);
    try {
      await model.save(path);
    } finally {
      await model.close();
    }
    const data = join(path, "Data/com.apple.CoreML");
    return Promise.all([
      readFile(join(data, "model.mlmodel")),
      readFile(join(data, "weights/weight.bin")),
    ]);
  }

  async function assertSameModels(a: Promise<MLModel>, b: Promise<MLModel>, label: string) {
    const [left, right] = await Promise.all([bytesOf(await a), bytesOf(await b)]);
    assert.ok(left[0].equals(right[0]), `${label}: programs differ`);
    assert.ok(left[1].equals(right[1]), `${label}: weights differ`);
  }

  /** A config with `config` as global config at the default size threshold. */
  const global = <C extends OpConfig>(config: C): OptimizationConfig<C> => ({
    globalConfig: config,
  });

  it("select weights above 2048 elements by default, like the new API's threshold", () => {
    const config = selectorConfig(base, linearQuantizerConfig());
    const selected = Object.entries(config.opNameConfigs!).filter(([, c]) => c !== null);
    assert.ok(selected.length > 0);
    assert.ok(Object.values(config.opNameConfigs!).some((c) => c === null));
    assert.equal(config.globalConfig, null);
  });

  it("affine_quantize_weights = linear_quantize_weights", async () => {
    await assertSameModels(
      affineQuantizeWeights(base),
      linearQuantizeWeights(base, global(linearQuantizerConfig())).then((r) => r.model),
      "default",
    );
    await assertSameModels(
      affineQuantizeWeights(base, { mode: "linear", dtype: "uint8" }),
      linearQuantizeWeights(
        base,
        global(linearQuantizerConfig({ mode: "linear", dtype: "uint8" })),
      ).then((r) => r.model),
      "linear uint8",
    );
  });

  it("an op selector maps onto per-name configs", async () => {
    const seen: string[] = [];
    const legacy = affineQuantizeWeights(base, {
      opSelector: (op) => {
        seen.push(op.name);
        return op.dtype === "fp16" && elementCount(op.shape) >= 64 && !op.name.includes("conv");
      },
    });
    // The same choice in the new API: a size threshold, and conv weights turned off by name.
    const convConsts = [...allOperations(base.spec.Type.value as Program)]
      .map(({ op }) => op)
      .filter((op) => op.type === "const" && opName(op).includes("conv"))
      .map((op) => [opName(op), null] as const);
    assert.ok(convConsts.length > 0);
    const picked: OptimizationConfig<OpLinearQuantizerConfig> = {
      globalConfig: linearQuantizerConfig({ weightThreshold: 63 }),
      opNameConfigs: Object.fromEntries(convConsts),
    };
    await assertSameModels(
      legacy,
      linearQuantizeWeights(base, picked).then((r) => r.model),
      "selector",
    );
    assert.ok(seen.length > 0);
  });

  it("palettize_weights (kmeans, uniform) = the new palettize_weights", async () => {
    for (const mode of ["kmeans", "uniform"] as const) {
      await assertSameModels(
        legacyPalettize(base, { nbits: 4, mode }),
        palettizeWeights(base, global(palettizerConfig({ nbits: 4, mode }))).then((r) => r.model),
        mode,
      );
    }
  });

  it("sparsify_weights (threshold, percentile) = prune_weights", async () => {
    await assertSameModels(
      sparsifyWeights(base, { mode: "THRESHOLD_BASED", threshold: 0.01 }),
      pruneWeights(
        base,
        global(thresholdPrunerConfig({ threshold: 0.01, minimumSparsityPercentile: 0 })),
      ).then((r) => r.model),
      "threshold",
    );
    await assertSameModels(
      sparsifyWeights(base, { mode: "percentile_based", targetPercentile: 0.5 }),
      pruneWeights(base, global(magnitudePrunerConfig({ targetSparsity: 0.5 }))).then(
        (r) => r.model,
      ),
      "percentile",
    );
    await assert.rejects(sparsifyWeights(base, { mode: "random" }), ConfigError);
  });

  it("decompress_weights = decompressWeights", async () => {
    const quantized = await affineQuantizeWeights(base);
    try {
      await assertSameModels(
        legacyDecompress(quantized),
        decompressWeights(quantized),
        "decompress",
      );
    } finally {
      await quantized.close();
    }
  });
});
