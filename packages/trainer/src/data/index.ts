/** SFT data: reading, formats, preparation (TRL's semantics), packing, splits and batches. */
export * from './batch';
export * from './config';
export * from './errors';
export * from './format';
export * from './load';
export * from './pack';
export * from './prepare';
export * from './read';
export * from './split';
