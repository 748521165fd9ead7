/** Every op type the interpreter runs (besides `const` and the `constexpr_*` family). */
import type { OpKernel } from "./kernel.js";
import { CONTROL_KERNELS } from "./ops/control.js";
import { ELEMENTWISE_KERNELS } from "./ops/elementwise.js";
import { LAYOUT_KERNELS } from "./ops/movement.js";
import { NN_KERNELS } from "./ops/linear-conv-norm.js";
import { QUANTIZE_KERNELS } from "./ops/quantize.js";
import { REARRANGE_KERNELS } from "./ops/rearrange.js";
import { STATE_KERNELS } from "./ops/state.js";

const KERNELS = new Map<string, OpKernel>(
  Object.entries({
    ...ELEMENTWISE_KERNELS,
    ...NN_KERNELS,
    ...LAYOUT_KERNELS,
    ...CONTROL_KERNELS,
    ...QUANTIZE_KERNELS,
    ...REARRANGE_KERNELS,
    ...STATE_KERNELS,
  }),
);

export function kernelFor(type: string): OpKernel | undefined {
  return KERNELS.get(type);
}

export function supportedOpTypes(): string[] {
  return [...KERNELS.keys()].sort();
}
