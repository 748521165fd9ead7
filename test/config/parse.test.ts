import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  configForOp,
  configForWeight,
  linearQuantizerConfig,
  loadConfigFile,
  parseOptimizationConfig,
  type OpLinearQuantizerConfig,
  type OptimizationConfig,
} from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";
import { makeConstOperation, makeOperation } from "../../src/program/ops.js";
import { immediateValue } from "../../src/program/values.js";

const op = (type: string, name: string) =>
  makeOperation(type, name, {}, [{ name, dtype: "fp32", shape: [1] }]);
const weight = (name: string) =>
  makeConstOperation(
    name,
    immediateValue({ dtype: "fp32", shape: [1], data: new Float32Array(1) }),
  );

test("from_dict shape: defaults, snake_case keys, null entries, per-entry config_type", () => {
  const config = parseOptimizationConfig({
    config_type: "OpLinearQuantizerConfig",
    global_config: { dtype: "int8" },
    op_type_configs: {
      conv: { dtype: "int4", granularity: "per_block", block_size: 16 },
      gather: null,
    },
    op_name_configs: { fc2: null, fc3: { mode: "LINEAR", weight_threshold: 0 } },
  }) as OptimizationConfig<OpLinearQuantizerConfig>;
  assert.deepEqual(config.globalConfig, linearQuantizerConfig());
  assert.equal(config.opTypeConfigs!.conv!.blockSize, 16);
  assert.equal(config.opTypeConfigs!.gather, null);
  assert.equal(config.opNameConfigs!.fc2, null);
  assert.equal(config.opNameConfigs!.fc3!.mode, "linear");
  assert.equal(config.opNameConfigs!.fc3!.weightThreshold, 0);
});

test("precedence: op name > op type > global; null means skip", () => {
  const global = linearQuantizerConfig();
  const int4 = linearQuantizerConfig({ dtype: "int4" });
  const config: OptimizationConfig<OpLinearQuantizerConfig> = {
    globalConfig: global,
    opTypeConfigs: { conv: int4, gather: null },
    opNameConfigs: { special: null, conv_named: global },
  };
  assert.equal(configForOp(config, op("linear", "fc")), global);
  assert.equal(configForOp(config, op("conv", "c1")), int4);
  assert.equal(configForOp(config, op("gather", "g")), null);
  assert.equal(configForOp(config, op("linear", "special")), null);
  assert.equal(configForOp(config, op("conv", "conv_named")), global);
  // The const's own name wins over its consumers.
  assert.equal(configForWeight({ ...config, opNameConfigs: { w: int4 } }, weight("w"), []), int4);
  assert.equal(configForWeight(config, weight("w"), [op("conv", "a"), op("conv", "b")]), int4);
  assert.equal(configForWeight(config, weight("w"), []), null);
});

test("one weight feeding ops with different configs is an error", () => {
  const config: OptimizationConfig<OpLinearQuantizerConfig> = {
    globalConfig: linearQuantizerConfig(),
    opTypeConfigs: { conv: linearQuantizerConfig({ dtype: "uint8" }) },
  };
  assert.throws(
    () => configForWeight(config, weight("shared_w"), [op("linear", "fc"), op("conv", "c")]),
    (e: Error) => e instanceof ConfigError && /shared_w.*fc.*c/.test(e.message),
  );
  // Equal configs (not the same object) do not conflict.
  const equal = { ...config, opTypeConfigs: { conv: linearQuantizerConfig() } };
  assert.deepEqual(
    configForWeight(equal, weight("w"), [op("linear", "fc"), op("conv", "c")]),
    linearQuantizerConfig(),
  );
  assert.throws(
    () => configForWeight({ opTypeConfigs: { const: null } }, weight("w"), []),
    ConfigError,
  );
});

test("bad configs name the key path", () => {
  const bad = (dict: unknown, pattern: RegExp) =>
    assert.throws(
      () => parseOptimizationConfig(dict),
      (e: Error) => e instanceof ConfigError && pattern.test(e.message),
    );
  const base = { config_type: "OpLinearQuantizerConfig" };
  bad(
    { ...base, op_type_configs: { conv: { dtype: "int2" } } },
    /^op_type_configs\.conv\.dtype: expected one of int8, uint8, int4, uint4/,
  );
  bad(
    { ...base, global_config: { granularity: "per_block", block_size: 0 } },
    /^global_config\.block_size: must be at least 1/,
  );
  bad({ ...base, global_config: { bits: 4 } }, /^global_config\.bits: unknown key/);
  bad({ ...base, global_config: { weight_threshold: -1 } }, /^global_config\.weight_threshold/);
  bad({ ...base, global_config: { block_size: [1, -2] } }, /^global_config\.block_size/);
  bad({ ...base, op_name_configs: [] }, /^op_name_configs: expected a mapping/);
  bad({ ...base, extra: 1 }, /^extra: unknown key/);
  bad({ config_type: "NoSuchConfig" }, /^config_type: unknown config_type "NoSuchConfig"/);
  bad({ global_config: {} }, /config_type must be a string/);
  bad(
    { ...base, op_type_configs: { conv: { config_type: "Nope" } } },
    /^op_type_configs\.conv\.config_type: unknown/,
  );
});

test("loadConfigFile reads YAML and JSON and prefixes errors with the file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "cfg-"));
  const yamlPath = join(dir, "c.yaml");
  await writeFile(
    yamlPath,
    "config_type: OpLinearQuantizerConfig\nglobal_config:\n  mode: linear\n  dtype: uint8\nop_type_configs:\n  gather: null\n",
  );
  const config = (await loadConfigFile(yamlPath)) as OptimizationConfig<OpLinearQuantizerConfig>;
  assert.equal(config.globalConfig!.dtype, "uint8");
  assert.equal(config.opTypeConfigs!.gather, null);
  const jsonPath = join(dir, "c.json");
  await writeFile(
    jsonPath,
    JSON.stringify({ config_type: "OpLinearQuantizerConfig", global_config: { mode: "x" } }),
  );
  await assert.rejects(loadConfigFile(jsonPath), /c\.json: global_config\.mode: expected one of/);
  await assert.rejects(loadConfigFile(join(dir, "missing.yaml")), ConfigError);
});
