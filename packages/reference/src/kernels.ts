import type { ReferenceKernels } from './buffers';
import { memKernels } from './mem';
import { quantKernels } from './quant';

/** Every reference kernel by id. */
export const referenceKernels: ReferenceKernels = { ...memKernels, ...quantKernels };
