/**
 * State files: save after k steps, load into a fresh optimizer (on a fresh runtime), continue — the
 * same bits as a run that was never interrupted, for AdamW (with a schedule), AdamW8bit and SGD.
 * A file that does not fit the optimizer is refused with an error naming the tensor.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadF32, type Runtime } from '@kvant/abi';
import { randn } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdamW } from './adamw';
import { AdamW8bit } from './adamw8bit';
import { OptimizerStateError } from './errors';
import type { Optimizer } from './optimizer';
import type { NamedParam } from './params';
import { LrScheduler } from './schedules';
import { SGD } from './sgd';
import { makeParams, readParams, runtimesUnderTest, sameBits, setGrads } from './test-support';

const runtimes = await runtimesUnderTest();
const SHAPES = { 'embed.weight': [40, 130], 'layer.bias': [7], 'layer.weight': [3, 5] } as const;
const TOTAL = 8;
const SAVE_AT = 3;

const initial = () => Object.fromEntries(Object.entries(SHAPES).map(([k, s], i) => [k, randn(s[0] * (s[1] ?? 1), 1 + i)]));
const gradsAt = (t: number) => Object.fromEntries(Object.entries(SHAPES).map(([k, s], i) => [k, randn(s[0] * (s[1] ?? 1), 100 * t + i, 0.1)]));

type Make = (rt: Runtime, params: NamedParam[]) => Optimizer<{ lr: number }>;
const OPTIMIZERS: [string, Make][] = [
  ['AdamW', (rt, ps) => new AdamW(rt, ps, { lr: 1e-2, weightDecay: 0.1 })],
  ['AdamW8bit', (rt, ps) => new AdamW8bit(rt, ps, { lr: 1e-2, weightDecay: 0.1 })],
  ['SGD', (rt, ps) => new SGD(rt, ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kvant-optim-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Steps from..to (inclusive) with the seeded grads, the schedule stepped after each. */
function run(rt: Runtime, opt: Optimizer<{ lr: number }>, params: NamedParam[], from: number, to: number, sched: LrScheduler): void {
  for (let t = from; t <= to; t++) {
    setGrads(rt, params, gradsAt(t));
    opt.step();
    sched.step();
  }
}

describe.each(runtimes)('state files on $name', ({ name: rtName, make }) => {
  it.each(OPTIMIZERS)('%s resumes bit-identically from a saved state', async (kind, makeOpt) => {
    // Uninterrupted.
    const rtA = await make();
    const pA = makeParams(rtA, SHAPES, initial());
    const optA = makeOpt(rtA, pA);
    const schedA = new LrScheduler(optA, 'linear', { warmupSteps: 2, numTrainingSteps: 10 });
    run(rtA, optA, pA, 1, TOTAL, schedA);
    const want = await readParams(pA);
    const wantState = await optA.stateDict();

    // Interrupted at SAVE_AT: save the state (and the params, as a checkpoint would), start over on a new runtime.
    const rtB = await make();
    const pB = makeParams(rtB, SHAPES, initial());
    const optB = makeOpt(rtB, pB);
    const schedB = new LrScheduler(optB, 'linear', { warmupSteps: 2, numTrainingSteps: 10 });
    run(rtB, optB, pB, 1, SAVE_AT, schedB);
    const file = join(dir, `${kind}-${rtName}.safetensors`);
    await optB.saveState(file);
    const checkpoint = await readParams(pB);
    const schedState = schedB.state();
    optB.dispose();
    rtB.dispose();

    const rtC = await make();
    const pC = makeParams(rtC, SHAPES, checkpoint);
    const optC = makeOpt(rtC, pC);
    optC.setLr(123); // overwritten by the file
    await optC.loadState(file);
    expect(optC.stepCount).toBe(SAVE_AT);
    const schedC = new LrScheduler(optC, 'linear', { warmupSteps: 2, numTrainingSteps: 10 });
    schedC.loadState(schedState);
    run(rtC, optC, pC, SAVE_AT + 1, TOTAL, schedC);
    const got = await readParams(pC);
    for (const name of Object.keys(SHAPES)) expect(sameBits(got[name], want[name]), `${kind} ${name}`).toBe(true);
    const gotState = await optC.stateDict();
    expect(gotState.metadata).toEqual(wantState.metadata);
    for (const [key, t] of wantState.tensors) expect(gotState.tensors.get(key)!.data, key).toEqual(t.data);
    for (const rt of [rtA, rtC]) rt.dispose();
  });
});

describe('state files that do not fit', () => {
  it('name the tensor whose shape differs, and leave the optimizer untouched', async () => {
    const rt = (await runtimesUnderTest())[0].make;
    const r = await rt();
    const params = makeParams(r, SHAPES, initial());
    const opt = new AdamW(r, params);
    setGrads(r, params, gradsAt(1));
    opt.step();
    const file = join(dir, 'adamw.safetensors');
    await opt.saveState(file);

    const other = { ...SHAPES, 'layer.weight': [5, 3] } as const;
    const p2 = makeParams(r, other, initial());
    const fresh = new AdamW(r, p2);
    const err = await fresh.loadState(file).catch((e) => e);
    expect(err).toBeInstanceOf(OptimizerStateError);
    expect(err.tensor).toBe('layer.weight.exp_avg');
    expect(err.message).toContain('layer.weight.exp_avg');
    expect(err.message).toContain('[5, 3]');
    expect(fresh.stepCount).toBe(0);
    expect((await downloadF32(fresh.stateTensors('embed.weight').get('exp_avg')!)).every((x) => x === 0)).toBe(true);

    // A param the file lacks, a param only the file has.
    const p3 = makeParams(r, { ...SHAPES, 'extra.weight': [2] }, { ...initial(), 'extra.weight': new Float32Array(2) });
    await expect(new AdamW(r, p3).loadState(file)).rejects.toThrow(/extra\.weight/);
    const { 'layer.bias': _, ...fewer } = SHAPES;
    const p4 = makeParams(r, fewer, initial());
    await expect(new AdamW(r, p4).loadState(file)).rejects.toThrow(/layer\.bias/);
    // Another optimizer's state.
    const sgd = new SGD(r, makeParams(r, SHAPES, initial()), { momentum: 0.9 });
    await expect(sgd.loadState(file)).rejects.toThrow(/SGD.*AdamW|AdamW/);
    await expect(sgd.loadState(file)).rejects.toBeInstanceOf(OptimizerStateError);
    r.dispose();
  });

  it('refuses an 8-bit state for a tensor that is 32-bit here (naming it)', async () => {
    const r = await (await runtimesUnderTest())[0].make();
    const shapes = { w: [4096] };
    const a = new AdamW8bit(r, makeParams(r, shapes, { w: randn(4096, 1) }));
    const file = join(dir, 'adamw8bit.safetensors');
    await a.saveState(file);
    const b = new AdamW8bit(r, makeParams(r, shapes, { w: randn(4096, 1) }), { minEightBitSize: 8192 });
    const err = await b.loadState(file).catch((e) => e);
    expect(err).toBeInstanceOf(OptimizerStateError);
    expect(err.tensor).toBe('w.state1');
    expect(err.message).toMatch(/F32 \[4096\].*found U8 \[4096\]/);
    r.dispose();
  });

  it('restores the hyper-parameters and steps of the file, as torch load_state_dict does', async () => {
    const r = await (await runtimesUnderTest())[0].make();
    const a = new SGD(r, makeParams(r, SHAPES, initial()), { lr: 0.3, momentum: 0.5, dampening: 0.25 });
    a.step();
    const dict = await a.stateDict();
    const b = new SGD(r, makeParams(r, SHAPES, initial()), { lr: 0.1, momentum: 0.9 });
    b.loadStateDict(dict);
    expect(b.hyper()).toEqual({ lr: 0.3, momentum: 0.5, dampening: 0.25, weightDecay: 0, nesterov: false });
    expect(b.stepCount).toBe(1);
    expect(b.stateBytes().total).toBe(4 * (40 * 130 + 7 + 15));
    r.dispose();
  });
});
