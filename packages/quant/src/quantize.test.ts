import { ConfigError, KernelArgumentError, NF4_CODE } from '@kvant/abi';
import { randn, ReferenceRuntime } from '@kvant/reference';
import { describe, expect, it } from 'vitest';
import { fromBnbTensors, quantStateJson, toBnbTensors } from './bnb';
import { fromBitsAndBytesConfig, resolveQuantConfig, toBitsAndBytesConfig } from './config';
import { footprint } from './footprint';
import { pythonFloatRepr, pythonJsonDumps } from './pyjson';
import { absmaxOf, dequantize, type QuantizedFourBit, quantize } from './quantize';
import { errorStats } from './stats';


const rt = new ReferenceRuntime();

describe('4-bit quantization', () => {
  it('packs the even element in the high nibble and uses the NF4 table', async () => {
    const x = Float32Array.from([-1, 1, 0, 0.5]);
    const q = (await quantize(rt, x, [4], { quantType: 'nf4', blocksize: 64 })) as QuantizedFourBit;
    expect([...q.packed]).toEqual([(0 << 4) | 15, (7 << 4) | 12]); // 0.5 lies below the 12/13 midpoint 0.5017
    expect(q.stats.kind === 'absmax' && q.stats.absmax[0]).toBe(1);
    expect([...q.code]).toEqual([...NF4_CODE]);
  });

  it('an odd element count leaves the low nibble as the code of 0', async () => {
    const q = (await quantize(rt, Float32Array.from([1, -1, 1]), [3], { quantType: 'nf4' })) as QuantizedFourBit;
    expect(q.packed.length).toBe(2);
    expect(q.packed[1] & 15).toBe(7);
    const f = (await quantize(rt, Float32Array.from([1, -1, 1]), [3], { quantType: 'fp4' })) as QuantizedFourBit;
    expect(f.packed[1] & 15).toBe(0);
  });

  it('a zero block dequantizes to zeros (1/0 = inf, 0*inf = NaN -> code 0)', async () => {
    const x = new Float32Array(128);
    x.fill(0.5, 64);
    for (const quantType of ['nf4', 'fp4'] as const) {
      const q = await quantize(rt, x, [128], { quantType });
      const y = await dequantize(rt, q);
      expect([...y.subarray(0, 64)].every((v) => v === 0)).toBe(true);
      expect(y[64]).toBe(0.5);
    }
  });

  it('round-trips the absmax through double quantization within bitsandbytes-like error', async () => {
    const x = randn(1024 * 256, 7);
    const plain = (await quantize(rt, x, [256, 1024], { blocksize: 64 })) as QuantizedFourBit;
    const dq = (await quantize(rt, x, [256, 1024], { blocksize: 64, doubleQuant: true })) as QuantizedFourBit;
    expect(dq.stats.kind).toBe('double');
    const exact = plain.stats.kind === 'absmax' ? plain.stats.absmax : new Float32Array();
    const approx = await absmaxOf(rt, dq);
    let rel = 0;
    let maxRel = 0;
    for (let i = 0; i < exact.length; i++) {
      const r = Math.abs(approx[i] - exact[i]) / exact[i];
      rel += r;
      maxRel = Math.max(maxRel, r);
    }
    expect(rel / exact.length).toBeLessThan(0.004);
    expect(maxRel).toBeLessThan(0.02);
    expect([...dq.packed]).toEqual([...plain.packed]);
    const e = errorStats(x, await dequantize(rt, dq));
    expect(e.meanAbsError).toBeLessThan(0.11);
    expect(e.meanRelError).toBeLessThan(0.28);
  });

  it('reports the footprint: 4.5 bits/param at bs 64, about 4.127 with double quantization', async () => {
    const x = randn(64 * 256 * 4, 3);
    const plain = footprint(await quantize(rt, x, [x.length], { blocksize: 64 }));
    const dq = footprint(await quantize(rt, x, [x.length], { blocksize: 64, doubleQuant: true }));
    expect(plain.codeBytes).toBe(x.length / 2);
    expect(plain.bitsPerParameter).toBeCloseTo(4.5 + (16 * 32) / x.length, 6);
    expect(dq.bitsPerParameter).toBeCloseTo(4 + 8 / 64 + 32 / (64 * 256) + ((16 + 256 + 1) * 32) / x.length, 6);
    expect(plain.transformersFootprintBytes).toBe(x.length / 2);
  });

  it('rejects bad shapes and configs with typed errors', async () => {
    await expect(quantize(rt, new Float32Array(10), [3, 4])).rejects.toThrow(/12 values for shape \[3, 4\].*found 10/);
    await expect(quantize(rt, new Float32Array(64), [64], { blocksize: 48 })).rejects.toBeInstanceOf(ConfigError);
    await expect(quantize(rt, new Float32Array(64), [64], { blocksize: 8192 })).rejects.toThrow(/power of two in \[32, 4096\].*8192/);
    expect(() => resolveQuantConfig({ bits: 9, quantType: 'linear' })).toThrow(/bits/);
    expect(() => rt.dispatch('quant.nf4_quantize', {}, { n: 1, blocksize: 64 })).toThrow(KernelArgumentError);
  });
});

describe('linear quantization', () => {
  it('symmetric: error at most half a step, zero point 0', async () => {
    const x = randn(1000, 11);
    for (const bits of [2, 4, 8]) {
      const q = await quantize(rt, x, [1000], { quantType: 'linear', bits, symmetric: true, group: 100 });
      if (q.format !== 'linear') throw new Error('format');
      const y = await dequantize(rt, q);
      for (let i = 0; i < x.length; i++) expect(Math.abs(y[i] - x[i])).toBeLessThanOrEqual(q.scale[Math.floor(i / 100)] / 2 + 1e-6);
      expect([...q.zero].every((z) => z === 0)).toBe(true);
    }
  });

  it('asymmetric: represents 0 exactly and reconstructs a constant group', async () => {
    const x = new Float32Array(64).fill(5);
    x[3] = 0;
    const q = await quantize(rt, x, [64], { quantType: 'linear', bits: 4, symmetric: false });
    const y = await dequantize(rt, q);
    expect(y[3]).toBe(0);
    expect(y[0]).toBeCloseTo(5, 5);
  });

  it('per tensor by default: one scale', async () => {
    const q = await quantize(rt, randn(333, 2), [333], { quantType: 'linear', bits: 8 });
    if (q.format !== 'linear') throw new Error('format');
    expect(q.scale.length).toBe(1);
    expect(q.group).toBe(333);
  });
});

describe('bitsandbytes serialization', () => {
  it('writes the keys, dtypes and shapes of §4 and reads them back', async () => {
    const x = randn(4096, 5);
    for (const doubleQuant of [false, true]) {
      const q = (await quantize(rt, x, [64, 64], { quantType: 'nf4', doubleQuant }, { dtype: 'bfloat16' })) as QuantizedFourBit;
      const t = toBnbTensors('model.layers.0.mlp.up_proj', q);
      const w = 'model.layers.0.mlp.up_proj.weight';
      expect(t[w].shape).toEqual([2048, 1]);
      expect(t[`${w}.absmax`].dtype).toBe(doubleQuant ? 'U8' : 'F32');
      expect(t[`${w}.absmax`].shape).toEqual([64]);
      expect(t[`${w}.quant_map`].shape).toEqual([16]);
      expect(Boolean(t[`${w}.nested_absmax`])).toBe(doubleQuant);
      if (doubleQuant) expect(t[`${w}.nested_quant_map`].shape).toEqual([256]);
      const back = fromBnbTensors('model.layers.0.mlp.up_proj', (k) => t[k]);
      expect(back).toEqual(q);
    }
  });

  it('writes quant_state JSON byte for byte as json.dumps does', () => {
    const q: QuantizedFourBit = {
      format: 'nf4',
      shape: [4096, 4096],
      dtype: 'float16',
      blocksize: 64,
      packed: new Uint8Array(0),
      code: NF4_CODE,
      stats: { kind: 'absmax', absmax: new Float32Array(0) },
    };
    expect(quantStateJson(q)).toBe('{"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [4096, 4096]}');
    const dq: QuantizedFourBit = {
      ...q,
      dtype: 'bfloat16',
      stats: { kind: 'double', qabsmax: new Uint8Array(0), nestedAbsmax: new Float32Array(0), nestedCode: new Float32Array(0), offset: Math.fround(0.0209), nestedBlocksize: 256 },
    };
    expect(quantStateJson(dq)).toBe(
      '{"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [4096, 4096], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.020899999886751175}',
    );
  });

  it('rejects a missing or contradictory quant_state with a typed error', () => {
    expect(() => fromBnbTensors('m', () => undefined)).toThrow(/exactly one of quant_state/);
    const bad = { 'm.weight.quant_state.bitsandbytes__nf4': { dtype: 'U8' as const, shape: [3], data: new TextEncoder().encode('{x') } };
    expect(() => fromBnbTensors('m', (k) => bad[k as keyof typeof bad])).toThrow(/UTF-8 JSON/);
  });
});

describe('configs', () => {
  it('maps to and from transformers BitsAndBytesConfig', () => {
    const c = resolveQuantConfig({ quantType: 'nf4', doubleQuant: true, computeDtype: 'bfloat16' });
    const b = toBitsAndBytesConfig(c);
    expect(b).toMatchObject({ quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4', bnb_4bit_use_double_quant: true, bnb_4bit_compute_dtype: 'bfloat16', bnb_4bit_quant_storage: 'uint8' });
    expect(fromBitsAndBytesConfig({ load_in_4bit: true })).toMatchObject({ quantType: 'fp4', doubleQuant: false, computeDtype: 'float32' });
  });
});

describe('python float repr', () => {
  it('matches repr() for the usual cases', () => {
    expect(pythonFloatRepr(6)).toBe('6.0');
    expect(pythonFloatRepr(0.0001)).toBe('0.0001');
    expect(pythonFloatRepr(0.00001)).toBe('1e-05');
    expect(pythonFloatRepr(1.5e-7)).toBe('1.5e-07');
    expect(pythonFloatRepr(1e16)).toBe('1e+16');
    expect(pythonFloatRepr(123456789012345.6)).toBe('123456789012345.6');
    expect(pythonFloatRepr(-2.5)).toBe('-2.5');
    expect(pythonJsonDumps({ a: [1, 2], b: 'x', c: null, d: true })).toBe('{"a": [1, 2], "b": "x", "c": null, "d": true}');
  });
});
