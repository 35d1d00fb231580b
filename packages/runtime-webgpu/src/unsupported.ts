/** Kernels the webgpu runtime does not implement, with the reason (kernel id -> reason). */
export const UNSUPPORTED: Readonly<Record<string, string>> = {};
