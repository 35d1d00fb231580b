/**
 * @kvant/abi — the kernel ABI shared by every runtime: kernel specs as data, dtypes, tensors,
 * the Runtime interface, dispatch validation, params packing, generated headers, typed errors.
 */
export * from './codegen';
export * from './dtypes';
export * from './errors';
export * from './kernels/index';
export * from './runtime';
export * from './profile';
export * from './spec';
export * from './validate';
export * from './tables';
export * from './random';
export * from './rope';
