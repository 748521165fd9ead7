/** Instantiating the kernels' WebAssembly modules (stored as base64 text). */

/**
 * The exports of a module, or undefined where WebAssembly (with SIMD) is not available: the
 * kernels then run their JavaScript loops. `imports` are the module's (e.g. a shared memory).
 */
export function instantiateKernel<Exports>(
  base64: string,
  imports?: { env: { memory: WebAssembly.Memory } },
): Exports | undefined {
  try {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports).exports as Exports;
  } catch {
    return undefined;
  }
}

/**
 * Grows `memory` to hold at least `end` bytes; false when the host refuses more (a RangeError),
 * so the caller can fall back to its JavaScript loops.
 */
export function growMemory(memory: WebAssembly.Memory, end: number): boolean {
  if (memory.buffer.byteLength >= end) return true;
  try {
    memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
    return true;
  } catch (error) {
    if (error instanceof RangeError) return false;
    throw error;
  }
}

/** A module of one function using `f32x4.relaxed_madd`: valid only where relaxed SIMD is on. */
// prettier-ignore
const RELAXED_PROBE = Uint8Array.of(
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type: (v128 ×3) → v128
  0x03, 0x02, 0x01, 0x00, // one function of that type
  0x0a, 0x0d, 0x01, 0x0b, 0x00, // code: one body, no locals
  0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b, // relaxed_madd of the 3 params
);

/**
 * Whether this host compiles relaxed SIMD (Chrome 114+ by default; Node 20 once
 * its entry turns V8's flag on). Asked when a kernel is instantiated, not at import.
 */
export function hasRelaxedSimd(): boolean {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}
