/**
 * Kernels the cuda and cuda-emu runtimes do not implement, with the reason (kernel id -> reason).
 * Every spec currently has a kernels-cuda/<family>/<name>.cu source, so this is empty.
 */
export const UNSUPPORTED: Readonly<Record<string, string>> = {};
