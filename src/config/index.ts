/** Optimization configs: the framework and every op config kind (importing registers them). */
export * from "./optimization-config.js";
export * from "./parse.js";
export * from "./file.js";
export * from "./linear-quantizer.js";
export * from "./pruner.js";
export * from "./palettizer.js";
export * from "./steps.js";
export * from "./activation-quantizer.js";
