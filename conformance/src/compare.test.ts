import type { Tolerance } from '@kvant/abi';
import { describe, expect, it } from 'vitest';
import { compareOutput } from './compare';
import type { CaseResult } from './runner';
import { summarize } from './table';

const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
const bits = (...v: number[]) => new Uint8Array(Uint32Array.from(v).buffer);
const codes = (tol: Tolerance, got: number[], want: number[], mask?: number[]) =>
  compareOutput(tol, 'u8', got.length, Uint8Array.from(got), Uint8Array.from(want), mask ? Uint8Array.from(mask) : undefined);

describe('compareOutput', () => {
  describe('exact', () => {
    const exact: Tolerance = { kind: 'exact' };
    it('passes identical bits and counts every differing element', () => {
      expect(compareOutput(exact, 'f32', 3, f32(1, 2, 3), f32(1, 2, 3)).mismatches).toBe(0);
      const r = compareOutput(exact, 'f32', 3, f32(1, 2.0000002, 4), f32(1, 2, 3));
      expect(r.mismatches).toBe(2);
      expect(r.first?.index).toBe(1);
    });
    it('tells -0 from +0, and one ulp from none', () => {
      expect(compareOutput(exact, 'f32', 1, f32(-0), f32(0)).mismatches).toBe(1);
      expect(compareOutput(exact, 'f32', 1, bits(0x3f800001), bits(0x3f800000)).mismatches).toBe(1);
    });
    it('compares NaN payloads unless the spec leaves them open, and never lets a NaN pass for a number', () => {
      expect(compareOutput(exact, 'f32', 1, bits(0x7fc00000), bits(0xffc00000)).mismatches).toBe(1);
      const any: Tolerance = { kind: 'exact', nan: 'any' };
      expect(compareOutput(any, 'f32', 1, bits(0x7fc00000), bits(0xffc00000)).mismatches).toBe(0);
      expect(compareOutput(any, 'f32', 1, bits(0x7fc00000), f32(1)).mismatches).toBe(1);
      expect(compareOutput(any, 'f32', 1, f32(-0), f32(0)).mismatches).toBe(1);
    });
    it('compares only the elements it is given (u8 counts are bytes, not padded words)', () => {
      expect(compareOutput(exact, 'u8', 3, Uint8Array.from([1, 2, 3, 9]), Uint8Array.from([1, 2, 3, 0])).mismatches).toBe(0);
      expect(compareOutput(exact, 'u8', 4, Uint8Array.from([1, 2, 3, 9]), Uint8Array.from([1, 2, 3, 0])).mismatches).toBe(1);
    });
  });

  describe('codes', () => {
    const tol: Tolerance = { kind: 'codes', midpointEps: 2 ** -20, packing: 'byte', ambiguousBudget: 2 };
    it('without a mask (an exact runtime) every differing code is a mismatch', () => {
      expect(codes(tol, [1, 2, 3], [1, 2, 4]).mismatches).toBe(1);
    });
    it('exempts ambiguous elements only one code away', () => {
      const r = codes(tol, [1, 3, 5], [1, 2, 3], [0, 1, 1]);
      expect(r.exempt).toBe(1);
      expect(r.mismatches).toBe(1); // element 2 is two codes away
      expect(r.maxError).toBe(2);
    });
    it('exempts only elements the mask proves ambiguous', () => {
      expect(codes(tol, [2, 2], [1, 2], [0, 1]).mismatches).toBe(1);
    });
    it('exempts at most the budget; the rest are mismatches, and the budget is reported', () => {
      const r = codes(tol, [2, 3, 4, 5], [1, 2, 3, 4], [1, 1, 1, 1]);
      expect(r.exempt).toBe(2);
      expect(r.budget).toBe(2);
      expect(r.mismatches).toBe(2);
    });
    it('reads nibbles high first and compares the pad nibble', () => {
      const nib: Tolerance = { kind: 'codes', midpointEps: 2 ** -20, packing: 'nibble', ambiguousBudget: 8 };
      // 3 codes (7, 1, 2) and the pad nibble 7 (the code of 0): bytes 0x71, 0x27.
      expect(compareOutput(nib, 'u8', 4, Uint8Array.from([0x71, 0x27]), Uint8Array.from([0x71, 0x27])).mismatches).toBe(0);
      const pad = compareOutput(nib, 'u8', 4, Uint8Array.from([0x71, 0x2f]), Uint8Array.from([0x71, 0x27]));
      expect(pad.mismatches).toBe(1);
      expect(pad.first?.index).toBe(3);
    });
  });

  describe('close', () => {
    const tol: Tolerance = { kind: 'close', maxAbs: 0, maxRel: 2 ** -20 };
    it('allows the stated relative error and no more', () => {
      expect(compareOutput(tol, 'f32', 1, f32(1 + 2 ** -21), f32(1)).mismatches).toBe(0);
      expect(compareOutput(tol, 'f32', 1, f32(1 + 2 ** -19), f32(1)).mismatches).toBe(1);
    });
    it('NaN equals NaN, but a NaN or an infinity never equals a number', () => {
      expect(compareOutput(tol, 'f32', 1, f32(Number.NaN), f32(Number.NaN)).mismatches).toBe(0);
      expect(compareOutput(tol, 'f32', 1, f32(Number.NaN), f32(1)).mismatches).toBe(1);
      expect(compareOutput(tol, 'f32', 1, f32(Number.POSITIVE_INFINITY), f32(1)).mismatches).toBe(1);
    });
  });

  describe('nmse', () => {
    const tol: Tolerance = { kind: 'nmse', max: 1e-4 };
    it('bounds the normalized squared error over the output', () => {
      expect(compareOutput(tol, 'f32', 2, f32(1.001, 2), f32(1, 2)).mismatches).toBe(0);
      expect(compareOutput(tol, 'f32', 2, f32(1.1, 2), f32(1, 2)).mismatches).toBe(2);
    });
    it('a NaN where the reference has a number fails', () => {
      expect(compareOutput(tol, 'f32', 2, f32(Number.NaN, 2), f32(1, 2)).mismatches).toBe(2);
    });
  });
});

describe('summarize', () => {
  const result = (runtime: string, c: string, against: string, status: CaseResult['status']): CaseResult => ({
    kernel: 'mem.copy',
    case: c,
    runtime,
    against,
    status,
    outputs: [{ binding: 'dst', elements: 1, mismatches: status === 'fail' ? 1 : 0, exempt: 0, budget: 0, maxError: 0, guardViolations: 0, unwritten: 0 }],
  });
  it('counts distinct cases, failing once however many comparisons failed', () => {
    const cells = summarize(
      [result('wasm', 'a', 'reference', 'pass'), result('webgpu', 'a', 'reference', 'fail'), result('webgpu', 'a', 'wasm', 'fail'), result('webgpu', 'b', 'reference', 'pass'), result('webgpu', 'b', 'wasm', 'fail')],
      ['wasm', 'webgpu'],
    );
    expect(cells.get('mem.copy')?.get('webgpu')).toMatchObject({ status: 'fail', cases: 2, failed: 2 });
    expect(cells.get('mem.copy')?.get('wasm')).toMatchObject({ status: 'pass', cases: 1, failed: 0 });
  });
});
