/**
 * The wasm optimizer kernels against the reference, bit for bit, on inputs built to hit their
 * hard spots: optim.adamw8bit_step's bucket-table search (assembly/optim/adamw8bit_step.ts) is
 * swept over every f32 within 24 ulps of every midpoint of the map (and across every bucket edge),
 * on 1 and 2 threads (split by blocks); maps the table cannot hold take the scalar path.
 */
import { DYNAMIC_MAP_SIGNED, DYNAMIC_MAP_UNSIGNED, type Params, type Runtime } from '@kvant/abi';
import { createReferenceRuntime, randn, rng } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWasmRuntime, type WasmRuntime } from './index';

const f = Math.fround;
const bits = new Float32Array(1);
const word = new Uint32Array(bits.buffer);
/** The f32 `k` ulps from x (k > 0: away from -inf), stepping through 0 as the f32 order does. */
function ulps(x: number, k: number): number {
  bits[0] = x;
  // Map to a monotone integer: negative floats below zero, -0 and +0 both 0.
  const u = word[0];
  let o = u >>> 31 ? -(u & 0x7fffffff) : u;
  o += k;
  word[0] = o < 0 ? (0x80000000 | -o) >>> 0 : o;
  return bits[0];
}

/** Values within `reach` ulps of every midpoint of `code` and of every bucket edge 2^e(1 + j/128), |v| <= 1. */
function sweep(code: Float32Array, reach: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < 255; j++) {
    const mid = f(f(code[j] + code[j + 1]) * 0.5);
    for (let k = -reach; k <= reach; k++) out.push(ulps(mid, k));
  }
  for (let e = -26; e <= 0; e++) {
    for (let j = 0; j < 128; j += 5) {
      const edge = f(2 ** e * (1 + j / 128));
      for (const k of [-1, 0, 1]) for (const s of [1, -1]) out.push(s * ulps(edge, k));
    }
  }
  out.push(0, -0, 1, -1, 2 ** -149, -(2 ** -149));
  return out.filter((v) => Math.abs(v) <= 1);
}

interface StepInputs {
  readonly params: Params;
  readonly p: Float32Array;
  readonly g: Float32Array;
  readonly m_q: Uint8Array;
  readonly v_q: Uint8Array;
  readonly m_absmax: Float32Array;
  readonly v_absmax: Float32Array;
  readonly code_signed: Float32Array;
  readonly code_unsigned: Float32Array;
}

/** Blocks of 256 whose first element is 1 (so the block absmax is 1 and s = m1 exactly), the rest `values`. */
function anchored(values: readonly number[], extraBlocks: number, seed: number): Float32Array {
  const per = 255;
  const blocks = Math.ceil(values.length / per) + extraBlocks;
  const g = new Float32Array(blocks * 256);
  const noise = randn(g.length, seed);
  for (let b = 0; b < blocks; b++) {
    g[b * 256] = b % 2 ? -1 : 1;
    for (let i = 1; i < 256; i++) {
      const at = b * per + i - 1;
      g[b * 256 + i] = at < values.length ? values[at] : f(noise[b * 256 + i] * 0.3);
    }
  }
  return g;
}

/**
 * beta1 = 0, 1 - beta1 = 1 and m_absmax = 0: m1 = g, so s_m = g / 1 = g runs over the sweep;
 * beta2 = 0, 1 - beta2 = 1: v1 = f(g * g).
 */
function sweepCase(codeS: Float32Array, codeU: Float32Array, g: Float32Array, seed: number): StepInputs {
  const n = g.length;
  const blocks = Math.ceil(n / 256);
  const r = rng(seed);
  return {
    params: { n, beta1: 0, beta2: 0, one_minus_beta1: 1, one_minus_beta2: 1, eps_hat: f(1e-8), decay: f(1 - 1e-5), step_size: f(1e-3) },
    p: randn(n, seed + 1),
    g,
    m_q: Uint8Array.from({ length: n }, () => Math.floor(r() * 256)),
    v_q: Uint8Array.from({ length: n }, () => Math.floor(r() * 256)),
    m_absmax: new Float32Array(blocks),
    v_absmax: new Float32Array(blocks),
    code_signed: codeS,
    code_unsigned: codeU,
  };
}

/** Ordinary Adam states and gradients (the bench's inputs) over n elements. */
function adamCase(n: number, seed: number): StepInputs {
  const blocks = Math.ceil(n / 256);
  const r = rng(seed);
  const g = randn(n, seed).map((x) => f(x * 0.01));
  g[5] = Number.NaN;
  g[300] = Number.POSITIVE_INFINITY;
  for (let i = 512; i < 768; i++) g[i] = 0; // with zero states below: a zero block
  const m_q = Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
  const v_q = Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
  const m_absmax = Float32Array.from({ length: blocks }, () => f(r() * 0.01));
  const v_absmax = Float32Array.from({ length: blocks }, () => f(r() * 1e-4));
  for (let i = 512; i < 768; i++) {
    m_q[i] = 127;
    v_q[i] = 0;
  }
  m_absmax[2] = 0;
  v_absmax[2] = 0;
  return {
    params: { n, beta1: f(0.9), beta2: f(0.999), one_minus_beta1: f(0.1), one_minus_beta2: f(0.001), eps_hat: f(1e-8), decay: f(1 - 1e-5), step_size: f(1e-3) },
    p: randn(n, seed + 1),
    g,
    m_q,
    v_q,
    m_absmax,
    v_absmax,
    code_signed: DYNAMIC_MAP_SIGNED,
    code_unsigned: DYNAMIC_MAP_UNSIGNED,
  };
}

const OUTPUTS = ['p', 'm_q', 'v_q', 'm_absmax', 'v_absmax'] as const;

async function step(rt: Runtime, c: StepInputs): Promise<Record<string, Uint8Array>> {
  const { params, ...inputs } = c;
  const tensors: Record<string, ReturnType<Runtime['alloc']>> = {};
  try {
    for (const [name, data] of Object.entries(inputs)) {
      const t = rt.alloc(data instanceof Float32Array ? 'f32' : 'u8', [data.length]);
      rt.write(t, data);
      tensors[name] = t;
    }
    rt.dispatch('optim.adamw8bit_step', tensors, params);
    await rt.flush();
    const out: Record<string, Uint8Array> = {};
    for (const name of OUTPUTS) out[name] = await rt.read(tensors[name]);
    return out;
  } finally {
    for (const t of Object.values(tensors)) rt.free(t);
  }
}

describe('optim.adamw8bit_step on wasm, bit for bit with the reference', () => {
  let ref: Runtime;
  const wasm: WasmRuntime[] = [];
  beforeAll(async () => {
    ref = await createReferenceRuntime();
    wasm.push(await createWasmRuntime({ threads: 1 }), await createWasmRuntime({ threads: 2 }));
  });
  afterAll(() => {
    for (const rt of wasm) rt.dispose();
    ref.dispose();
  });

  async function expectSame(c: StepInputs, what: string): Promise<void> {
    const want = await step(ref, c);
    for (const rt of wasm) {
      const got = await step(rt, c);
      for (const name of OUTPUTS) {
        const a = got[name];
        const b = want[name];
        let first = -1;
        for (let i = 0; i < a.length && first < 0; i++) if (a[i] !== b[i]) first = i;
        expect(first, `${what}, ${rt.info().description}: ${name} differs first at byte ${first}`).toBe(-1);
      }
    }
  }

  it('every f32 within 24 ulps of each midpoint of both dynamic maps, and every bucket edge', async () => {
    // The m path searches code_signed; running each map as code_signed sweeps s exactly over it.
    for (const [name, code] of [['signed', DYNAMIC_MAP_SIGNED], ['unsigned', DYNAMIC_MAP_UNSIGNED]] as const) {
      const values = sweep(code, 24);
      // Enough extra blocks to pass the runtime's split threshold (2^22 flops) on 2 threads.
      const g = anchored(values, 600, 11);
      await expectSame(sweepCase(code, DYNAMIC_MAP_UNSIGNED, g, 12), `sweep of the ${name} map as code_signed`);
    }
  });

  it('v near the unsigned midpoints (v1 = g*g for g about sqrt(midpoint))', async () => {
    const values: number[] = [];
    for (let j = 0; j < 255; j++) {
      const mid = f(f(DYNAMIC_MAP_UNSIGNED[j] + DYNAMIC_MAP_UNSIGNED[j + 1]) * 0.5);
      const root = f(Math.sqrt(mid));
      for (let k = -12; k <= 12; k++) values.push(ulps(root, k));
    }
    await expectSame(sweepCase(DYNAMIC_MAP_SIGNED, DYNAMIC_MAP_UNSIGNED, anchored(values, 600, 21), 22), 'v sweep');
  });

  it('Adam states with NaN/Inf gradients, a zero block and a partial last block', async () => {
    await expectSame(adamCase(150_001, 31), 'adam states, n = 150001');
    await expectSame(adamCase(4097, 32), 'adam states, n = 4097');
  });

  it('a map the bucket table cannot hold (clustered codes) takes the scalar path, same bits', async () => {
    const r = rng(41);
    const clustered = Float32Array.from({ length: 256 }, (_, i) => f(i < 128 ? -1 + i * 1e-4 + r() * 1e-5 : 0.5 + (i - 128) * 1e-4)).sort();
    const g = anchored(sweep(clustered, 4), 560, 42);
    await expectSame(sweepCase(clustered, clustered, g, 43), 'clustered map');
  });
});
