/**
 * @kvant/trainer — SFT data (TRL's formats, masking, truncation, packing, splits, batches); the
 * training loop, accumulation, checkpoints and evaluation come next.
 */
export * from './data/index';
