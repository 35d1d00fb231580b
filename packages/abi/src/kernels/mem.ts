/**
 * The `mem` family: memory movement. `mem.copy` exists so that every runtime measures its own
 * copy bandwidth with the same kind of kernel the others run; benchmarks report the other
 * kernels as a fraction of it.
 */
import { defineKernel, requires } from '../spec';

export const memCopy = defineKernel({
  id: 'mem.copy',
  summary: 'Copy 32-bit words from src to dst.',
  math: 'dst[i] = src[i] for i < words',
  params: [{ name: 'words', type: 'u32', doc: 'number of 32-bit words' }],
  derived: {},
  preconditions: [requires.positive('words')],
  bindings: [
    { name: 'src', dtype: 'u32', shape: ['words'], access: 'read', doc: 'source words' },
    { name: 'dst', dtype: 'u32', shape: ['words'], access: 'write', doc: 'destination words' },
  ],
  tolerance: { dst: { kind: 'exact' } },
  cost: (p) => ({ flops: 0, bytes: 8 * p.words }),
});

export const MEM_KERNELS = [memCopy] as const;
