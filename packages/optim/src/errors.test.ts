/**
 * Typed errors: what the optimizers, the schedules and clipGradNorm refuse, and how they say it.
 */
import { ConfigError, downloadF32, NonFiniteError, TensorError, upload } from '@kvant/abi';
import { randn, ReferenceRuntime } from '@kvant/reference';
import { describe, expect, it } from 'vitest';
import { AdamW } from './adamw';
import { AdamW8bit } from './adamw8bit';
import { clipGradNorm } from './clip';
import { LrScheduler, schedule } from './schedules';
import { SGD } from './sgd';
import { makeParams, sameBits } from './test-support';

const rt = new ReferenceRuntime();
const param = (name: string, shape: number[], gradShape = shape) => ({ name, param: upload(rt, 'f32', shape, randn(shape.reduce((a, b) => a * b, 1), 1)), grad: rt.alloc('f32', gradShape) });

describe('parameters and gradients', () => {
  it('refuses a gradient of another shape, naming the param', () => {
    expect(() => new AdamW(rt, [param('ok', [4]), param('lora_A', [8, 16], [16, 8])])).toThrow(TensorError);
    expect(() => new AdamW(rt, [param('lora_A', [8, 16], [16, 8])])).toThrow(/param lora_A.*\[8, 16\].*\[16, 8\]/);
  });

  it('refuses a non-f32 param or grad, a tensor of another runtime, a repeated name or tensor', () => {
    const p = { name: 'q', param: rt.alloc('u8', [4]), grad: rt.alloc('f32', [4]) };
    expect(() => new SGD(rt, [p])).toThrow(/param q \(param\).*dtype f32.*dtype u8/);
    const other = new ReferenceRuntime();
    expect(() => new SGD(rt, [{ name: 'x', param: other.alloc('f32', [2]), grad: rt.alloc('f32', [2]) }])).toThrow(TensorError);
    expect(() => new SGD(rt, [param('a', [2]), param('a', [2])])).toThrow(/repeated name/);
    const shared = param('s', [2]);
    expect(() => new SGD(rt, [shared, { name: 't', param: shared.param, grad: rt.alloc('f32', [2]) }])).toThrow(/listed twice/);
    expect(() => new AdamW(rt, [])).toThrow(ConfigError);
  });
});

describe('hyper-parameters', () => {
  const ps = () => [param('w', [3])];
  it.each([
    ['a NaN lr', { lr: Number.NaN }, /lr: expected a finite learning rate >= 0, found NaN/],
    ['an infinite lr', { lr: Number.POSITIVE_INFINITY }, /lr/],
    ['a negative lr', { lr: -1e-3 }, /lr.*-0.001/],
    ['beta1 = 1', { betas: [1, 0.999] as const }, /betas\[0\]/],
    ['a negative beta2', { betas: [0.9, -0.1] as const }, /betas\[1\]/],
    ['a negative eps', { eps: -1e-8 }, /eps/],
    ['a NaN eps', { eps: Number.NaN }, /eps/],
    ['a negative weight decay', { weightDecay: -0.1 }, /weightDecay/],
  ])('AdamW and AdamW8bit refuse %s', (_label, options, message) => {
    expect(() => new AdamW(rt, ps(), options)).toThrow(ConfigError);
    expect(() => new AdamW(rt, ps(), options)).toThrow(message);
    expect(() => new AdamW8bit(rt, ps(), options)).toThrow(message);
  });

  it('checks per-group options and the lr a schedule or setLr sets', () => {
    expect(() => new AdamW(rt, [{ params: ps(), lr: -1 }])).toThrow(/param group 0: lr/);
    expect(() => new AdamW(rt, [{ params: ps(), momentum: 0.9 } as never])).toThrow(/unknown option momentum/);
    const opt = new AdamW(rt, ps());
    expect(() => opt.setLr(Number.NaN)).toThrow(ConfigError);
    expect(opt.lr()).toBe(1e-3);
    expect(() => new LrScheduler(opt, () => -2)).toThrow(/lr factor/);
  });

  it('SGD refuses Nesterov without momentum or with dampening, and a negative momentum', () => {
    expect(() => new SGD(rt, ps(), { nesterov: true })).toThrow(/Nesterov/);
    expect(() => new SGD(rt, ps(), { nesterov: true, momentum: 0.9, dampening: 0.1 })).toThrow(/dampening 0/);
    expect(() => new SGD(rt, ps(), { momentum: -0.9 })).toThrow(/momentum/);
  });

  it('schedules refuse missing or contradictory step counts', () => {
    expect(() => schedule('linear', { warmupSteps: 3 })).toThrow(/numTrainingSteps/);
    expect(() => schedule('cosine', { warmupSteps: 2, warmupRatio: 0.1, numTrainingSteps: 10 })).toThrow(/not both/);
    expect(() => schedule('constant_with_warmup', { warmupSteps: -1 })).toThrow(/warmupSteps/);
    expect(() => schedule('polynomial' as never)).toThrow(/constant, constant_with_warmup, linear, cosine/);
    // warmupRatio: ceil(T · ratio) steps, as transformers' get_warmup_steps.
    const s = schedule('linear', { warmupRatio: 0.25, numTrainingSteps: 10 }); // 3 warmup steps
    expect([0, 1, 2, 3, 10].map(s)).toEqual([0, 1 / 3, 2 / 3, 1, 0]);
  });
});

describe('clipGradNorm and non-finite gradients', () => {
  it('returns a non-finite norm without touching the grads, or throws naming the step, tensor and element', async () => {
    const ps = makeParams(rt, { a: [300], b: [5] }, { a: randn(300, 1), b: randn(5, 2) });
    const ga = randn(300, 3);
    const gb = randn(5, 4);
    gb[2] = Number.NaN;
    rt.write(ps[0].grad, ga);
    rt.write(ps[1].grad, gb);
    const grads = { 'layer.a': ps[0].grad, 'layer.b': ps[1].grad };
    expect(await clipGradNorm(rt, grads, 1.0)).toBeNaN();
    expect(sameBits(await downloadF32(ps[0].grad), ga)).toBe(true);
    const err = await clipGradNorm(rt, grads, 1.0, 2, { errorIfNonfinite: true, step: 12 }).catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err.message).toMatch(/step 12: gradient layer\.b.*NaN at element 2/);
    expect(err.index).toBe(2);
  });

  it('reports an f32 overflow of the sum of squares as non-finite too', async () => {
    const g = upload(rt, 'f32', [2], Float32Array.of(3e19, 1));
    expect(await clipGradNorm(rt, [g], 1)).toBe(Number.POSITIVE_INFINITY);
    await expect(clipGradNorm(rt, [g], 1, 2, { errorIfNonfinite: true })).rejects.toThrow(/overflows f32/);
  });

  it('computes only the L2 norm and needs a finite max norm', async () => {
    const g = upload(rt, 'f32', [2], Float32Array.of(3, 4));
    await expect(clipGradNorm(rt, [g], 1, 1)).rejects.toThrow(ConfigError);
    await expect(clipGradNorm(rt, [g], Number.NaN)).rejects.toThrow(/maxNorm/);
    expect(await clipGradNorm(rt, [g], 1)).toBe(5);
    // clip_coef = 1 / (5 + 1e-6): torch's f32 ops, then g·coef.
    const coef = Math.fround(Math.fround(1 / Math.fround(5 + Math.fround(1e-6))) * 1);
    expect(Array.from(await downloadF32(g))).toEqual([Math.fround(3 * coef), Math.fround(4 * coef)]);
  });

  it('zeroGrad zeroes every gradient', async () => {
    const ps = makeParams(rt, { a: [3] }, { a: randn(3, 1) });
    rt.write(ps[0].grad, Float32Array.of(1, 2, 3));
    new SGD(rt, ps).zeroGrad();
    expect(Array.from(await downloadF32(ps[0].grad))).toEqual([0, 0, 0]);
  });
});
