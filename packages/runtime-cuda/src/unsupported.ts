/**
 * Kernels the cuda and cuda-emu runtimes do not implement, with the reason (kernel id -> reason).
 * Empty: every kernel of the ABI has its kernels-cuda/<family>/<name>.cu source.
 */
export const UNSUPPORTED: Readonly<Record<string, string>> = {};
