/**
 * A pipeline of neural networks runs whole: each stage reads the pipeline's inputs and what
 * earlier stages computed, and the pipeline classifier returns its label and probabilities.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { UnsupportedError } from "../../src/errors.js";
import { loadModelFromFiles } from "../../src/format/files.js";
import { ModelSchema, type Model } from "../../src/format/gen/Model_pb.js";
import { encodeModel } from "../../src/format/ml-model.js";
import { loadRunner } from "../../src/runtime/runner.js";
import { arrayFeature, floatWeights, nd, ndNetwork } from "../support/neural-networks.js";

const LABELS = ["low", "high"];
const dictionary = (name: string) => ({
  name,
  type: {
    Type: {
      case: "dictionaryType" as const,
      value: { KeyType: { case: "stringKeyType" as const, value: {} } },
    },
  },
});
const string = (name: string) => ({
  name,
  type: { Type: { case: "stringType" as const, value: {} } },
});

/** x [2] → (stage 0) features = 2x → (stage 1) scores of [1, −1]·features and their opposite. */
function pipeline(): Model {
  const features = ndNetwork(
    { x: [2] },
    [nd("multiply", "x", "features", { alpha: 2 })],
    ["features"],
  );
  const classifier = create(ModelSchema, {
    specificationVersion: 5,
    description: {
      input: [arrayFeature("features", [2])],
      output: [dictionary("probabilities"), string("label")],
      predictedFeatureName: "label",
      predictedProbabilitiesName: "probabilities",
    },
    Type: {
      case: "neuralNetworkClassifier",
      value: {
        layers: [
          nd("innerProduct", "features", "scores", {
            inputChannels: 2n,
            outputChannels: 2n,
            weights: floatWeights([-1, 1, 1, -1]),
          }),
          nd("softmaxND", "scores", "p", { axis: -1n }),
        ],
        arrayInputShapeMapping: 1,
        ClassLabels: { case: "stringClassLabels", value: { vector: LABELS } },
        labelProbabilityLayerName: "p",
      },
    },
  });
  return create(ModelSchema, {
    specificationVersion: 5,
    description: {
      input: [arrayFeature("x", [2])],
      output: [dictionary("probabilities"), string("label")],
      predictedFeatureName: "label",
      predictedProbabilitiesName: "probabilities",
    },
    Type: {
      case: "pipelineClassifier",
      value: { pipeline: { models: [features, classifier], names: ["features", "classifier"] } },
    },
  });
}

test("a pipeline classifier of two neural networks gives its label and probabilities", async () => {
  const model = await loadModelFromFiles({ "model.mlmodel": encodeModel(pipeline()) });
  const runner = await loadRunner(model);
  assert.deepEqual(
    runner.inputs.map((io) => io.name),
    ["x"],
  );
  assert.deepEqual(
    runner.outputs.map((io) => io.name),
    ["probabilities", "label"],
  );
  const out = runner.predict({ x: { dtype: "fp32", shape: [2], data: Float32Array.of(1, 0.5) } });
  // features [2, 1]: scores [−1, 1].
  const p = Math.exp(1) / (Math.exp(1) + Math.exp(-1));
  const probabilities = out.probabilities.data as Float32Array;
  assert.ok(Math.abs(probabilities[0] - (1 - p)) < 1e-6 && Math.abs(probabilities[1] - p) < 1e-6);
  assert.deepEqual(out.label.data, ["high"]);
  // A single stage still runs on its own.
  const first = await loadRunner(model, { pipelineStage: 0 });
  assert.deepEqual(
    Array.from(
      first.predict({ x: { dtype: "fp32", shape: [2], data: Float32Array.of(1, 0.5) } }).features
        .data as Float32Array,
    ),
    [2, 1],
  );
  await model.close();
});

test("a pipeline with a stage the runtime cannot run asks for a stage", async () => {
  const spec = pipeline();
  if (spec.Type.case !== "pipelineClassifier") throw new Error("not a pipeline");
  spec.Type.value.pipeline!.models.push(create(ModelSchema, { specificationVersion: 5 }));
  const model = await loadModelFromFiles({ "model.mlmodel": encodeModel(spec) });
  await assert.rejects(
    loadRunner(model),
    (error: unknown) => error instanceof UnsupportedError && /choose a stage/.test(error.message),
  );
  await model.close();
});
