/**
 * Node 20's V8 (11.3) compiles WebAssembly's relaxed SIMD only behind a flag; turning it on
 * before the kernels are compiled lets their products use fused multiply-adds (one instruction
 * where there were two). V8's flags are process-wide, so worker threads see it too. Where
 * relaxed SIMD is already on (later Node versions) nothing is set. Imported for its effect by
 * the Node entry points (pool.ts, which format/model.ts and the CLI import).
 */
import { setFlagsFromString } from "node:v8";
import { hasRelaxedSimd } from "../kernels/wasm/instantiate.js";

if (!hasRelaxedSimd()) setFlagsFromString("--experimental-wasm-relaxed-simd");
