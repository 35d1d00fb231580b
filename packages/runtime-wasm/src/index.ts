/**
 * @kvant/runtime-wasm — the default runtime: AssemblyScript kernels compiled into one SIMD
 * WebAssembly module (embedded as base64), a buffer arena over its growable linear memory.
 * Build the module with `pnpm build` (scripts/build.ts).
 */
export { Arena } from './arena';
export { createWasmRuntime, WasmRuntime, type WasmRuntimeOptions } from './runtime';
export { SCRATCH_BYTES } from './module';
export { UNSUPPORTED } from './unsupported';
