/**
 * @kvant/optim — optimizers over any kvant runtime: AdamW (PyTorch), 8-bit blockwise AdamW
 * (bitsandbytes), SGD with momentum (PyTorch); learning-rate schedules with Hugging Face's names;
 * clipping by global norm (torch.nn.utils.clip_grad_norm_); state files in safetensors that resume
 * bit-identically. Imports @kvant/abi (kernels, tensors, errors) and @kvant/formats (safetensors).
 */
export { adamw8bitStepParams, adamwStepParams } from '@kvant/abi';
export { ADAMW_DEFAULTS, AdamW, type AdamWHyper } from './adamw';
export { AdamW8bit, type AdamW8bitOptions, blocksOf, dequantize8bit, MIN_8BIT_SIZE } from './adamw8bit';
export { type ClipOptions, clipGradNorm } from './clip';
export { OptimizerStateError } from './errors';
export { Optimizer, type OptimizerStateDict, type StateBytes, type StateSpec } from './optimizer';
export type { NamedParam, ParamGroup, ParamsInput } from './params';
export { LrScheduler, SCHEDULE_NAMES, type Schedule, type ScheduleName, type ScheduleOptions, schedule, warmupStepsOf } from './schedules';
export { SGD, SGD_DEFAULTS, type SGDHyper } from './sgd';
