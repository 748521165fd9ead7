/**
 * Models that disagree with themselves, and files that are not files: every command answers
 * with one line and status 1, writes nothing, and never hangs, crashes or allocates by a
 * corrupt size. (The fuzzer in test/fuzz covers the same classes at random.)
 */
import assert from "node:assert/strict";
import { clone, create } from "@bufbuild/protobuf";
import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  DimensionSchema,
  Value_ImmediateValueSchema,
  type Block,
} from "../../src/format/gen/MIL_pb.js";
import { ModelSchema, type Model } from "../../src/format/gen/Model_pb.js";
import type { WeightParams } from "../../src/format/gen/NeuralNetwork_pb.js";
import { loadModel } from "../../src/format/model.js";
import { quantizeWeights } from "../../src/passes/neural-quantize.js";
import { runCli } from "../support/cli.js";
import { FIXTURES } from "../support/paths.js";

const PACKAGE = join(FIXTURES, "golden/bases/zoo_fp16_ios18.mlpackage");
const NEURAL = join(FIXTURES, "golden/bases/nn.mlmodel");

/** Commands run on every broken model; `OUT` is replaced by a fresh output path. */
const COMMANDS = [
  ["inspect", "IN"],
  ["inspect", "IN", "--weights"],
  ["predict", "IN"],
  ["decompress", "IN", "-o", "OUT"],
  ["quantize", "IN", "-o", "OUT"],
];

function assertCleanFailure(input: string, problem: RegExp, commands = COMMANDS): void {
  for (const command of commands) {
    const dir = mkdtempSync(join(tmpdir(), "hostile-"));
    const out = join(dir, "out.mlpackage");
    const args = command.map((a) => (a === "IN" ? input : a === "OUT" ? out : a));
    const result = runCli(...args);
    assert.equal(result.status, 1, `${command.join(" ")}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, /^coreml-optimize: [^\n]+\n$/, `${command.join(" ")}: one line`);
    assert.doesNotMatch(result.stderr, /internal error|\n\s+at /);
    assert.match(result.stderr, problem, command.join(" "));
    assert.ok(!existsSync(out), "nothing written");
    rmSync(dir, { recursive: true });
  }
}

/** Saves a fixture package (by default the zoo) with its main block edited by `change`. */
async function brokenPackage(
  change: (block: Block, spec: Model) => void,
  source = PACKAGE,
): Promise<string> {
  const model = await loadModel(source);
  const spec = clone(ModelSchema, model.spec);
  if (spec.Type.case !== "mlProgram") throw new Error("not a program");
  const fn = spec.Type.value.functions["main"];
  change(fn.blockSpecializations[fn.opset], spec);
  const path = join(mkdtempSync(join(tmpdir(), "broken-")), "broken.mlpackage");
  await model.derive(spec, model.weightFiles).save(path);
  await model.close();
  return path;
}

test("a program using an unbound or empty name", async () => {
  const input = await brokenPackage((block) => {
    const relu = block.operations.find((o) => o.type === "relu")!;
    relu.inputs["x"].arguments[0].binding = { case: "name", value: "" };
  });
  assertCleanFailure(input, /op relu "relu1_cast_fp16": input x uses an empty name/);
});

test("a name holding control characters is printed escaped, on one line", async () => {
  const input = await brokenPackage((block) => {
    const relu = block.operations.find((o) => o.type === "relu")!;
    relu.inputs["x"].arguments[0].binding = { case: "name", value: "x\n\u0012y\u2028" };
  });
  assertCleanFailure(input, /input x uses "x\\n\\x12y\\u2028", which is not defined before it/);
});

test("a compressed weight whose data is an empty immediate value, copied or compressed", async () => {
  const source = join(FIXTURES, "golden/cases/lq_int8_linear_perchannel__zoo_fp16_ios18.mlpackage");
  const input = await brokenPackage((block) => {
    const op = block.operations.find((o) => o.type === "constexpr_blockwise_shift_scale")!;
    const data = op.inputs["data"].arguments[0].binding;
    if (data.case !== "value") throw new Error("data is not a literal");
    data.value.value = { case: "immediateValue", value: create(Value_ImmediateValueSchema) };
  }, source);
  assertCleanFailure(input, /input data: immediate value holds nothing, its type is a tensor/, [
    ...COMMANDS,
    ["palettize", "IN", "--nbits", "8", "--mode", "uniform", "-o", "OUT"],
  ]);
});

test("a const op without outputs", async () => {
  const input = await brokenPackage((block) => {
    block.operations.find((o) => o.type === "const")!.outputs = [];
  });
  assertCleanFailure(input, /has no outputs/);
});

test("a weight whose dimension is 2^64 − 2", async () => {
  const input = await brokenPackage((block) => {
    const weight = block.operations.find((o) => o.outputs[0]?.name === "conv1_weight_0_to_fp16")!;
    const value = weight.attributes["val"];
    if (value.type?.type.case !== "tensorType") throw new Error("not a tensor");
    value.type.type.value.dimensions[0] = create(DimensionSchema, {
      dimension: { case: "constant", value: { size: 2n ** 64n - 2n } },
    });
  });
  assertCleanFailure(input, /is not a tensor size/);
});

test("an output whose declared shape differs from what the op computes", async () => {
  const input = await brokenPackage((block) => {
    const relu = block.operations.find((o) => o.type === "relu")!;
    const type = relu.outputs[0].type!;
    if (type.type.case !== "tensorType") throw new Error("not a tensor");
    const last = type.type.value.dimensions.at(-1)!.dimension;
    if (last.case === "constant") last.value.size += 1n;
  });
  assertCleanFailure(input, /computed shape \[.*\], the program declares/, [["predict", "IN"]]);
});

test("a neural network whose image input has no width", async () => {
  const model = await loadModel(NEURAL);
  const spec = clone(ModelSchema, model.spec);
  const feature = spec.description!.input[0];
  if (feature.type?.Type.case === "imageType") feature.type.Type.value.width = 0n;
  else if (feature.type?.Type.case === "multiArrayType") feature.type.Type.value.shape[0] = 0n;
  const path = join(mkdtempSync(join(tmpdir(), "broken-")), "broken.mlmodel");
  await model.derive(spec, new Map()).save(path);
  assertCleanFailure(path, /is not a size/, [
    ["inspect", "IN"],
    ["predict", "IN"],
    ["quantize-weights", "IN", "-o", "OUT", "--nbits", "8"],
  ]);
});

test("special files in place of model files are refused before they are opened", () => {
  const dir = mkdtempSync(join(tmpdir(), "special-"));
  for (const [name, target] of [
    ["zero", "/dev/zero"],
    ["random", "/dev/urandom"],
  ]) {
    const pkg = join(dir, `${name}.mlpackage`);
    cpSync(PACKAGE, pkg, { recursive: true });
    const weights = join(pkg, "Data/com.apple.CoreML/weights/weight.bin");
    rmSync(weights);
    symlinkSync(target, weights);
    assertCleanFailure(pkg, /weight\.bin: not a regular file/);
    symlinkSync(target, join(dir, `${name}.mlmodel`));
    assertCleanFailure(join(dir, `${name}.mlmodel`), /not a regular file/, [["inspect", "IN"]]);
  }
  const fifo = join(dir, "fifo.mlpackage");
  cpSync(PACKAGE, fifo, { recursive: true });
  rmSync(join(fifo, "Manifest.json"));
  execFileSync("mkfifo", [join(fifo, "Manifest.json")]);
  assertCleanFailure(fifo, /not a regular file|not an \.mlpackage/, [["inspect", "IN"]]);
});

test("an empty file is not a model, whatever its name", () => {
  const dir = mkdtempSync(join(tmpdir(), "empty-"));
  for (const name of ["in.mlpackage", "in.mlmodel"]) {
    writeFileSync(join(dir, name), "");
    assertCleanFailure(join(dir, name), /not a Core ML model \(no model type\)/);
  }
});

test("a sparse weight whose mask disagrees with its values, copied or compressed", () => {
  const dir = mkdtempSync(join(tmpdir(), "mask-"));
  const input = join(dir, "in.mlpackage");
  cpSync(join(FIXTURES, "golden/cases/prune_block4__zoo_fp16_ios18.mlpackage"), input, {
    recursive: true,
  });
  // Read the mask one byte late (as a fuzz case did): it sets more positions than there are values.
  const weights = join(input, "Data/com.apple.CoreML/weights/weight.bin");
  const bytes = readFileSync(weights);
  const at = 168064;
  bytes.writeBigUInt64LE(bytes.readBigUInt64LE(at + 16) + 1n, at + 16);
  writeFileSync(weights, bytes);
  assertCleanFailure(
    input,
    /op constexpr_sparse_to_dense "fc2_weight_0_to_fp16_sparsified": mask sets \d+ positions but \d+ values are given/,
    [
      ["palettize", "IN", "--nbits", "6", "--joint", "-o", "OUT"],
      // Without --joint the sparse op is copied as it is: the copy must not load either.
      ["quantize", "IN", "-o", "OUT"],
      ["decompress", "IN", "-o", "OUT"],
    ],
  );
});

test("an iOS16 sparse weight whose packed mask sets one bit too many", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mask16-"));
  const input = join(dir, "in.mlpackage");
  cpSync(join(FIXTURES, "golden/cases/prune_magnitude50__zoo_fp16_ios16.mlpackage"), input, {
    recursive: true,
  });
  const model = await loadModel(input);
  const spec = model.spec;
  await model.close();
  if (spec.Type.case !== "mlProgram") throw new Error("not a program");
  const fn = spec.Type.value.functions["main"];
  const sparse = fn.blockSpecializations[fn.opset].operations.find(
    (o) => o.type === "constexpr_sparse_to_dense",
  )!;
  const mask = sparse.attributes["mask"].value;
  assert.equal(mask.case, "blobFileValue");
  const weights = join(input, "Data/com.apple.CoreML/weights/weight.bin");
  const bytes = readFileSync(weights);
  // The blob's metadata holds its data offset 16 bytes in; set the first clear bit of the mask.
  let at = Number(bytes.readBigUInt64LE(Number(mask.value.offset) + 16));
  while (bytes[at] === 0xff) at++;
  bytes[at] |= ~bytes[at] & (bytes[at] + 1);
  writeFileSync(weights, bytes);
  assertCleanFailure(input, /constexpr_sparse_to_dense .*mask sets \d+ positions but \d+ values/, [
    ["quantize", "IN", "-o", "OUT"],
    ["inspect", "IN", "--weights"],
  ]);
});

test("a neural network whose quantized weights have one scale too few", async () => {
  const model = await loadModel(NEURAL);
  const quantized = await quantizeWeights(model, { nbits: 8, mode: "linear" });
  const spec = clone(ModelSchema, quantized.spec);
  const layers = spec.Type.case === "neuralNetwork" ? spec.Type.value.layers : [];
  const quantization = layers
    .map((layer) => (layer.layer.value as { weights?: WeightParams }).weights?.quantization)
    .find(
      (q) =>
        q?.QuantizationType.case === "linearQuantization" &&
        q.QuantizationType.value.scale.length > 1,
    );
  assert.ok(quantization?.QuantizationType.case === "linearQuantization", "a per-channel weight");
  quantization.QuantizationType.value.scale.pop();
  const path = join(mkdtempSync(join(tmpdir(), "broken-")), "broken.mlmodel");
  await model.derive(spec, new Map()).save(path);
  // Kept as they are by a command, they would make a model that does not load.
  assertCleanFailure(path, /weights: \d+ scales but \d+ biases/, [
    ["inspect", "IN"],
    ["quantize-weights", "IN", "-o", "OUT", "--nbits", "4", "--mode", "linear_lut"],
    ["decompress", "IN", "-o", "OUT"],
  ]);
});
