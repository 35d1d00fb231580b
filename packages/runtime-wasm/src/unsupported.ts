/**
 * Kernels the wasm runtime does not implement, with the reason (kernel id -> reason).
 * `scripts/check-implementations.ts` accepts a spec without `assembly/<family>/<name>.ts` only when
 * it is listed here. The issue-9 kernels are listed until their sources land.
 */
export const UNSUPPORTED: Readonly<Record<string, string>> = {
  'linalg.matmul': 'not yet implemented (issue 9)',
  'linalg.matmul_4bit': 'not yet implemented (issue 9)',
  'linalg.matmul_4bit_dq': 'not yet implemented (issue 9)',
  'linalg.sum_squares': 'not yet implemented (issue 9)',
  'linalg.sum': 'not yet implemented (issue 9)',
  'linalg.add': 'not yet implemented (issue 9)',
  'linalg.scale': 'not yet implemented (issue 9)',
  'linalg.axpy': 'not yet implemented (issue 9)',
  'linalg.dropout': 'not yet implemented (issue 9)',
  'linalg.peak_flops': 'not yet implemented (issue 9)',
  'optim.adamw_step': 'not yet implemented (issue 9)',
  'optim.adamw8bit_step': 'not yet implemented (issue 9)',
};
