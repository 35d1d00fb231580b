/**
 * @kvant/reference — plain TypeScript for every kernel: the definition and the oracle.
 */
export * from './buffers';
export { referenceKernels } from './kernels';
export { fp4Code, getNibble, nearestCode, nf4Code, roundHalfEven, setNibble, absmaxOf } from './quant';
export { dropoutDraws, mulhi32, philox4x32, treeReduce } from './linalg';
export { lerpF32 } from './optim';
export { type RopeConfig, type RopeScaling, ropeInvFreq, ropeTables } from '@kvant/abi';
export { type Arith, attentionLo, F32, F64, type NnArrays, type NnKernel, nnArrayKernels, rowsum32, runNn, sampleRow } from './nn';
export { ReferenceRuntime } from './runtime';

import { ReferenceRuntime } from './runtime';

/** Create the reference runtime. */
export async function createReferenceRuntime(): Promise<ReferenceRuntime> {
  return new ReferenceRuntime();
}
export { randn, randomBytes, rng } from './random';
