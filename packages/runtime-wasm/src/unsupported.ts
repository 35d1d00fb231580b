/**
 * Kernels the wasm runtime does not implement, with the reason (kernel id -> reason).
 * `scripts/check-implementations.ts` accepts a spec without `assembly/<family>/<name>.ts` only when
 * it is listed here. Every current spec is implemented.
 */
export const UNSUPPORTED: Readonly<Record<string, string>> = {
};
