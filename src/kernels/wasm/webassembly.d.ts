// The part of the WebAssembly JS API the kernels use: Node's and browsers' global, which
// neither lib "ES2023" nor @types/node declares.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports?: { env: { memory: Memory } });
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    grow(pages: number): number;
  }
  class Global {
    value: unknown;
  }
  function validate(bytes: Uint8Array): boolean;
}
