/**
 * Kernels the cuda and cuda-emu runtimes do not implement, with the reason (kernel id -> reason).
 * Empty: every kernel of the ABI has its kernels-cuda/<family>/<name>.cu source.
 */
export const UNSUPPORTED: Readonly<Record<string, string>> = {
  'nn.embedding': 'not yet implemented (issue 11)',
  'nn.embedding_backward': 'not yet implemented (issue 11)',
  'nn.rmsnorm': 'not yet implemented (issue 11)',
  'nn.rmsnorm_backward': 'not yet implemented (issue 11)',
  'nn.rope': 'not yet implemented (issue 11)',
  'nn.rope_backward': 'not yet implemented (issue 11)',
  'nn.attention': 'not yet implemented (issue 11)',
  'nn.attention_backward': 'not yet implemented (issue 11)',
  'nn.swiglu': 'not yet implemented (issue 11)',
  'nn.swiglu_backward': 'not yet implemented (issue 11)',
  'nn.cross_entropy': 'not yet implemented (issue 11)',
  'nn.cross_entropy_backward': 'not yet implemented (issue 11)',
  'nn.argmax': 'not yet implemented (issue 11)',
  'nn.sample': 'not yet implemented (issue 11)',
};
