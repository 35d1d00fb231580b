// The kvant wasm module: every kernel `family.name` exported as
// `family__name(params: usize, bindings: usize): void`, where `params` points at the packed
// params block (32-bit words in spec order) and `bindings` at one u32 pointer per binding in
// spec order. scripts/build.ts checks that every spec not in src/unsupported.ts is exported here.
//
// Threading ABI (the heavy kernels: linalg.matmul, linalg.matmul_4bit(_dq), linalg.matmul_16bit):
//   family__name__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void
// computes part `part` (0 <= part < parts) of the output: the output is cut into units
// (batch x row blocks x column blocks, common/gemm.ts) and part p takes units
// [floor(p*U/parts), floor((p+1)*U/parts)). Running parts 0..parts-1 — in any order, concurrently
// on threads sharing one memory — writes every output element exactly once, with bits identical to
// the plain export (every element's sum walks k in order, whatever the split). `scratch` points at
// 1 MiB (1048576 bytes, 16-aligned) of memory private to that call; the kernel writes no other
// memory than its outputs and that scratch (no writable static data; wasm globals, such as
// common/expf.ts's EXP_B.., belong to each thread's own instance). The plain export
// family__name(params, bindings) runs __part(params, bindings, 0, 1, <a static 1 MiB buffer>), so
// only one plain dispatch of these kernels may run at a time.

export { linalg__add } from './linalg/add';
export { linalg__axpy } from './linalg/axpy';
export { linalg__dropout, linalg__dropout__part } from './linalg/dropout';
export { linalg__matmul, linalg__matmul__part } from './linalg/matmul';
export { linalg__matmul_16bit, linalg__matmul_16bit__part } from './linalg/matmul_16bit';
export { linalg__matmul_4bit, linalg__matmul_4bit__part } from './linalg/matmul_4bit';
export { linalg__matmul_4bit_dq, linalg__matmul_4bit_dq__part } from './linalg/matmul_4bit_dq';
export { linalg__peak_flops, linalg__peak_flops__part } from './linalg/peak_flops';
export { linalg__scale } from './linalg/scale';
export { linalg__sum } from './linalg/sum';
export { linalg__sum_squares } from './linalg/sum_squares';
export { mem__copy } from './mem/copy';
export { nn__argmax } from './nn/argmax';
export { nn__attention, nn__attention__part } from './nn/attention';
export { nn__attention_backward, nn__attention_backward__part } from './nn/attention_backward';
export { nn__attention_decode, nn__attention_decode__part } from './nn/attention_decode';
export { nn__cross_entropy, nn__cross_entropy__part } from './nn/cross_entropy';
export { nn__cross_entropy_backward, nn__cross_entropy_backward__part } from './nn/cross_entropy_backward';
export { nn__embedding } from './nn/embedding';
export { nn__embedding_backward } from './nn/embedding_backward';
export { nn__kv_append } from './nn/kv_append';
export { nn__rmsnorm, nn__rmsnorm__part } from './nn/rmsnorm';
export { nn__rmsnorm_backward } from './nn/rmsnorm_backward';
export { nn__rope, nn__rope__part } from './nn/rope';
export { nn__rope_backward, nn__rope_backward__part } from './nn/rope_backward';
export { nn__sample } from './nn/sample';
export { nn__swiglu, nn__swiglu__part } from './nn/swiglu';
export { nn__swiglu_backward, nn__swiglu_backward__part } from './nn/swiglu_backward';
export { optim__adamw_step, optim__adamw_step__part } from './optim/adamw_step';
export { optim__adamw8bit_step, optim__adamw8bit_step__part } from './optim/adamw8bit_step';
export { quant__blockwise8_dequantize } from './quant/blockwise8_dequantize';
export { quant__blockwise8_quantize } from './quant/blockwise8_quantize';
export { quant__dequantize_16bit } from './quant/dequantize_16bit';
export { quant__dequantize_4bit } from './quant/dequantize_4bit';
export { quant__dequantize_4bit_dq } from './quant/dequantize_4bit_dq';
export { quant__fp4_quantize } from './quant/fp4_quantize';
export { quant__linear_dequantize } from './quant/linear_dequantize';
export { quant__linear_quantize } from './quant/linear_quantize';
export { quant__nf4_quantize } from './quant/nf4_quantize';

/** Zero `bytes` bytes at `ptr` (the runtime's alloc: memory.fill runs at memset speed, while a JS fill of a shared memory does not). */
export function zero_bytes(ptr: usize, bytes: usize): void {
  memory.fill(ptr, 0, bytes);
}

/** First byte the JS arena may use: everything below holds the module's static data. */
export function heap_base(): usize {
  return __heap_base;
}
