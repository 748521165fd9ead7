/**
 * onnxruntime-node for the side-by-side inference benchmark, installed on demand into a cache
 * folder outside the package's dependencies (`npm ci` never installs it), with its install
 * script told to download nothing: the CPU binaries ship in the npm package itself.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ONNXRUNTIME_VERSION = "1.30.0";

/** The part of onnxruntime-node's API the benchmark uses. */
export interface OnnxRuntime {
  Tensor: new (
    type: "float32" | "int32",
    data: Float32Array | Int32Array,
    dims: number[],
  ) => {
    data: ArrayLike<number>;
  };
  InferenceSession: {
    create(
      model: Uint8Array,
      options: { intraOpNumThreads: number; interOpNumThreads: number; executionMode: string },
    ): Promise<OnnxSession>;
  };
}

export interface OnnxSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: ArrayLike<number> }>>;
}

/** node_modules/.cache/onnxruntime-node-VERSION beside the package (dist/bench/ → root). */
const CACHE = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../node_modules/.cache",
  `onnxruntime-node-${ONNXRUNTIME_VERSION}`,
);

/** onnxruntime-node, installed first if needed; a reason string when it cannot be had. */
export function loadOnnxRuntime(): OnnxRuntime | string {
  try {
    if (!existsSync(join(CACHE, "node_modules/onnxruntime-node/package.json"))) {
      process.stderr.write(`installing onnxruntime-node ${ONNXRUNTIME_VERSION} into ${CACHE}\n`);
      mkdirSync(CACHE, { recursive: true });
      writeFileSync(join(CACHE, "package.json"), '{ "private": true }\n');
      execFileSync(
        "npm",
        [
          "install",
          "--no-save",
          "--no-package-lock",
          "--no-audit",
          "--no-fund",
          "--onnxruntime-node-install=skip",
          `onnxruntime-node@${ONNXRUNTIME_VERSION}`,
        ],
        {
          cwd: CACHE,
          stdio: ["ignore", "ignore", "pipe"],
          env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: "skip" },
        },
      );
    }
    return createRequire(join(CACHE, "package.json"))("onnxruntime-node") as OnnxRuntime;
  } catch (error) {
    const message = (error as Error).message.split("\n")[0];
    return `onnxruntime-node ${ONNXRUNTIME_VERSION} could not be installed or loaded (${message})`;
  }
}
