/**
 * Control flow: branches and loops run nested networks over the blobs of the network around
 * them (what they compute stays visible after them); copy overwrites a blob.
 */
import { paramsOf, unsupported, type LayerCompiler, type LoopSignal } from "./params.js";

/** Guards against loops whose condition never turns false. */
const MAX_ITERATIONS = 10_000_000;

/** The specification's truth: a value farther than 1e-6 from zero. */
const truthy = (value: number) => Math.abs(value) > 1e-6;

export const CONTROL_LAYERS = {
  branch: (layer, compile) => {
    const p = paramsOf(layer, "branch");
    if (!p.ifBranch) throw unsupported(layer, "has no ifBranch network");
    const then = compile.nested(p.ifBranch);
    const otherwise = p.elseBranch && compile.nested(p.elseBranch);
    return ([condition], run) => {
      if (condition?.data.length !== 1) throw unsupported(layer, "the condition is not a scalar");
      const chosen = truthy(condition.data[0]) ? then : otherwise;
      return (chosen && run.run(chosen)) ?? [];
    };
  },
  /**
   * A for loop (maxLoopIterations or the input), a while loop (conditionVar, computed by the
   * condition network before each iteration), or both at once.
   */
  loop: (layer, compile) => {
    const p = paramsOf(layer, "loop");
    if (!p.bodyNetwork) throw unsupported(layer, "has no body network");
    const body = compile.nested(p.bodyNetwork);
    // coremltools' builder writes an empty condition network for a for loop: conditionVar
    // tells whether there is a condition.
    if (p.conditionVar && !p.conditionNetwork) {
      throw unsupported(layer, `has a conditionVar "${p.conditionVar}" but no condition network`);
    }
    const condition = p.conditionVar ? compile.nested(p.conditionNetwork!) : undefined;
    return ([count], run) => {
      const limit = count ? Math.trunc(count.data[0]) : Number(p.maxLoopIterations);
      const bounded = count !== undefined || limit > 0 || !condition;
      const holds = () => {
        if (!condition) return true;
        run.run(condition);
        const value = run.blob(p.conditionVar);
        if (value.data.length !== 1) throw unsupported(layer, `${p.conditionVar} is not a scalar`);
        return truthy(value.data[0]);
      };
      for (let i = 0; !bounded || i < limit; i++) {
        if (i >= MAX_ITERATIONS)
          throw unsupported(layer, `did not stop after ${MAX_ITERATIONS} iterations`);
        if (!holds()) break;
        if (run.run(body) === "break") break;
      }
      return [];
    };
  },
  loopBreak: () => (): LoopSignal => "break",
  loopContinue: () => (): LoopSignal => "continue",
  copy:
    () =>
    ([x]) =>
      x,
} satisfies Record<string, LayerCompiler>;
