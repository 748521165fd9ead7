/**
 * Errors a user can cause (bad files, bad configs, unsupported input) are instances of
 * `CoreMLOptimizeError`: the CLI prints their one-line message and exits non-zero without a
 * stack trace. Any other exception is a bug in this package.
 */
export class CoreMLOptimizeError extends Error {
  override name = "CoreMLOptimizeError";
}

/** A model file, package or weight file is malformed or unreadable. */
export class FormatError extends CoreMLOptimizeError {
  override name = "FormatError";
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

/** A compression config (or CLI option) is invalid. */
export class ConfigError extends CoreMLOptimizeError {
  override name = "ConfigError";
}

/**
 * Running a model failed inside one op or layer on the values it was given: the model's shapes
 * or values do not fit what the op computes. Names the op; keeps the original error as `cause`.
 */
export class ModelRunError extends CoreMLOptimizeError {
  override name = "ModelRunError";
  constructor(op: string, cause: unknown) {
    super(
      `${op}: failed on its inputs (${cause instanceof Error ? cause.message : String(cause)})`,
      {
        cause,
      },
    );
  }
}

/** The input is valid but uses something this package does not handle (an op, a dtype, ...). */
export class UnsupportedError extends CoreMLOptimizeError {
  override name = "UnsupportedError";
}
