/** Scalar activation functions shared by the ML program ops and the neural-network layers. */
import { erf } from "./elementwise.js";

export const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export type GeluMode = "EXACT" | "TANH_APPROXIMATION" | "SIGMOID_APPROXIMATION";

export const GELU: Record<GeluMode, (v: number) => number> = {
  EXACT: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
  TANH_APPROXIMATION: (v) => 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))),
  SIGMOID_APPROXIMATION: (v) => v * sigmoid(1.702 * v),
};
