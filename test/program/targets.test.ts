import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { ModelSchema, type Model } from "../../src/format/gen/Model_pb.js";
import { buildModel } from "../../src/program/builder.js";
import { raiseTarget } from "../../src/program/targets.js";
import { nd, ndNetwork } from "../support/neural-networks.js";

const program = (spec: Model) => {
  assert.equal(spec.Type.case, "mlProgram");
  return spec.Type.value;
};

test("raiseTarget raises the ML programs of a pipeline and leaves the input as it was", async () => {
  const stage = await buildModel("iOS16", async (b) => {
    b.output(b.unary("relu", b.input("x", "fp32", [1, 4])));
  });
  const network = ndNetwork({ y: [4] }, [nd("multiply", "y", "z", { alpha: 2 })], ["z"]);
  const spec = create(ModelSchema, {
    specificationVersion: 7,
    Type: { case: "pipeline", value: { models: [stage.spec, network], names: ["a", "b"] } },
  });
  const model = stage.derive(spec, stage.weightFiles);
  const before = toBinary(ModelSchema, spec);

  const raised = raiseTarget(model, "iOS18");
  assert.deepEqual(toBinary(ModelSchema, model.spec), before, "input untouched");
  assert.equal(raised.spec.specificationVersion, 9);
  assert.equal(raised.spec.Type.case, "pipeline");
  const [raisedStage, raisedNetwork] = raised.spec.Type.value.models;
  assert.equal(raisedStage.specificationVersion, 9);
  const main = program(raisedStage).functions.main;
  assert.equal(main.opset, "CoreML8");
  assert.deepEqual(Object.keys(main.blockSpecializations), ["CoreML8"]);
  assert.equal(
    main.blockSpecializations.CoreML8,
    program(stage.spec).functions.main.blockSpecializations.CoreML6,
    "the block is shared, not copied",
  );
  assert.equal(raisedNetwork.specificationVersion, network.specificationVersion);
  assert.equal(raiseTarget(raised, "iOS17"), raised, "nothing older than the target: same model");
  await stage.close();
});
