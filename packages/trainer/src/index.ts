/**
 * @kvant/trainer — SFT with LoRA/QLoRA or full fine-tuning: TRL's data preparation (formats,
 * masking, truncation, packing, splits, batches), the training loop with accumulation, schedules,
 * clipping and evaluation, checkpoints with exact resume, and the run's outputs.
 */
export * from './data/index';
export * from './train/args';
export * from './train/checkpoint';
export * from './train/generation-eval';
export * from './train/outputs';
export * from './train/plot';
export * from './train/trainer';
