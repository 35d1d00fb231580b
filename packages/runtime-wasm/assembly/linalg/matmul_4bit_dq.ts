// linalg.matmul_4bit_dq — linalg.matmul_4bit reading double-quantized statistics directly.
// Shapes: as linalg.matmul_4bit, with qabsmax u8[blocks], nested_absmax f32[ceil(blocks/nested_blocksize)],
//         nested_code f32[256] instead of absmax.
// Math: absmax_of(b) = f(f(nested_code[qabsmax[b]] * nested_absmax[b / nested_blocksize]) + offset),
//       then exactly linalg.matmul_4bit.
// Idea: the same dequantize-into-the-panel GEMM; the absmax is rebuilt once per 32 weights of the
//       SIMD lookup, so double quantization costs next to nothing.
import { Bindings, Params } from '../generated/linalg/matmul_4bit_dq';
import { GEMM_SCRATCH_BYTES, gemmPart, log2, SINGLE_THREAD_SCRATCH, SINGLE_THREAD_SCRATCH_BYTES, SOURCE_4BIT_DQ } from '../common/gemm';
import { setup4bit } from '../common/matmul_4bit';

/** Part `part` of `parts` of the output (threading ABI, see index.ts); `scratch` is 1 MiB private to the call. */
export function linalg__matmul_4bit_dq__part(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize): void {
  run(params, bindings, part, parts, scratch, GEMM_SCRATCH_BYTES);
}

export function linalg__matmul_4bit_dq(params: usize, bindings: usize): void {
  run(params, bindings, 0, 1, SINGLE_THREAD_SCRATCH, SINGLE_THREAD_SCRATCH_BYTES);
}

function run(params: usize, bindings: usize, part: u32, parts: u32, scratch: usize, bytes: usize): void {
  const p = changetype<Params>(params);
  const b = changetype<Bindings>(bindings);
  const g = setup4bit(scratch, p.m, p.n, p.k, p.trans, p.beta, p.blocksize, b.x, b.packed, b.code, b.y);
  g.qabsmax = b.qabsmax;
  g.nestedAbsmax = b.nested_absmax;
  g.nestedCode = b.nested_code;
  g.nestedShift = log2(p.nested_blocksize);
  g.offset = p.offset;
  g.source = SOURCE_4BIT_DQ;
  gemmPart(scratch, bytes, part, parts);
}
