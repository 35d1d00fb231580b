import { type Buffers, type ReferenceKernels, u32View } from './buffers';

export const memKernels: ReferenceKernels = {
  'mem.copy': {
    run: (p, b: Buffers) => {
      u32View(b.dst).set(u32View(b.src).subarray(0, p.words));
    },
  },
};
