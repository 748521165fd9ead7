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
