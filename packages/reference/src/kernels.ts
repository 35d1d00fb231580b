import type { ReferenceKernels } from './buffers';
import { linalgKernels } from './linalg';
import { memKernels } from './mem';
import { nnKernels } from './nn';
import { optimKernels } from './optim';
import { quantKernels } from './quant';

/** Every reference kernel by id. */
export const referenceKernels: ReferenceKernels = { ...memKernels, ...quantKernels, ...linalgKernels, ...optimKernels, ...nnKernels };
