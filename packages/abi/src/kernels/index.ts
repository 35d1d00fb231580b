import { KernelArgumentError } from '../errors';
import type { KernelSpec } from '../spec';
import { LINALG_KERNELS } from './linalg';
import { MEM_KERNELS } from './mem';
import { NN_KERNELS } from './nn';
import { OPTIM_KERNELS } from './optim';
import { QUANT_KERNELS } from './quant';

export * from './linalg';
export * from './mem';
export * from './nn';
export * from './optim';
export * from './quant';

/** Every kernel spec, in a stable order. */
export const KERNELS: readonly KernelSpec[] = [...MEM_KERNELS, ...QUANT_KERNELS, ...LINALG_KERNELS, ...OPTIM_KERNELS, ...NN_KERNELS];

const byId = new Map(KERNELS.map((k) => [k.id, k]));

/** The spec of a kernel id; throws a typed error naming the known ids otherwise. */
export function getKernel(id: string): KernelSpec {
  const spec = byId.get(id);
  if (!spec) throw new KernelArgumentError(id, 'kernel id', `one of ${[...byId.keys()].join(', ')}`, `unknown id`);
  return spec;
}

export function hasKernel(id: string): boolean {
  return byId.has(id);
}
