import { describe, expect, it } from 'vitest';
import { ropeInvFreq, ropeTables } from '@kvant/abi';
import { attentionLo, F32, F64, nnArrayKernels, rowsum32, runNn, sampleRow } from './nn';
import { randn } from './random';

/**
 * inv_freq as transformers 5.x computes it (head_dim 128), printed from
 * ROPE_INIT_FUNCTIONS / LlamaRotaryEmbedding.compute_default_rope_parameters in f32:
 * default (rope_theta 500000), linear (factor 4, rope_theta 10000), and llama3 (rope_theta 500000,
 * factor 8, low 1, high 4, original_max_position_embeddings 8192: Llama 3.1).
 */
const TORCH_DEFAULT_500K_128 = [1.0, 0.8146172165870667, 0.663601279258728, 0.5405809879302979, 0.44036662578582764, 0.3587302267551422, 0.2922278344631195, 0.2380538135766983, 0.193922758102417, 0.1579728126525879, 0.12868738174438477, 0.10483095049858093, 0.08539710193872452, 0.06956595182418823, 0.05666961893439293, 0.046164050698280334, 0.03760603070259094, 0.030634520575404167, 0.02495540864765644, 0.020329104736447334, 0.016560440883040428, 0.013490419834852219, 0.010989529080688953, 0.008952259086072445, 0.00729266507551074, 0.005940730683505535, 0.00483942124992609, 0.003942275885492563, 0.0032114461064338684, 0.0026160990819334984, 0.002131119603291154, 0.0017360467463731766, 0.001414213445968926, 0.001152042648755014, 0.0009384738514199853, 0.0007644969737157226, 0.0006227724370546639, 0.0005073211505077779, 0.0004132725589442998, 0.00033665893715806305, 0.00027424818836152554, 0.00022340727446135134, 0.00018199143232777715, 0.00014825335529167205, 0.00012076974235242233, 9.838111145654693e-05, 8.014294871827587e-05, 6.528582161990926e-05, 5.3182957344688475e-05, 4.332375465310179e-05, 3.529227615217678e-05, 2.8749695047736168e-05, 2.3419997887685895e-05, 1.907833393488545e-05, 1.5541540051344782e-05, 1.2660406355280429e-05, 1.0313385246263351e-05, 8.401460945606232e-06, 6.843975370429689e-06, 5.575220257014735e-06, 4.541670477919979e-06, 3.6997230381530244e-06, 3.01385807688348e-06, 2.4551407022954663e-06];
const TORCH_LINEAR4_10K_128 = [0.25, 0.21649108827114105, 0.18747355043888092, 0.16234540939331055, 0.14058533310890198, 0.121741883456707, 0.10542412847280502, 0.09129353612661362, 0.07905694097280502, 0.06846049427986145, 0.05928434059023857, 0.05133812502026558, 0.04445698484778404, 0.0384981632232666, 0.0333380363881588, 0.028869550675153732, 0.02500000037252903, 0.021649107336997986, 0.018747353926301003, 0.016234541311860085, 0.014058532193303108, 0.012174188159406185, 0.010542412288486958, 0.009129352867603302, 0.007905694656074047, 0.0068460488691926, 0.0059284339658916, 0.00513381278142333, 0.004445698577910662, 0.0038498162757605314, 0.0033338037319481373, 0.002886954927816987, 0.0024999999441206455, 0.0021649107802659273, 0.0018747355788946152, 0.0016234541544690728, 0.0014058533124625683, 0.0012174188159406185, 0.0010542412055656314, 0.0009129353566095233, 0.0007905694656074047, 0.0006846049218438566, 0.0005928434547968209, 0.0005133812665008008, 0.00044456985779106617, 0.00038498162757605314, 0.00033338036155328155, 0.0002886955044232309, 0.0002500000118743628, 0.00021649108384735882, 0.00018747354624792933, 0.00016234541544690728, 0.00014058532542549074, 0.00012174187577329576, 0.00010542412201175466, 9.129352838499472e-05, 7.905694656074047e-05, 6.846048927400261e-05, 5.928434620727785e-05, 5.133812373969704e-05, 4.4456985051510856e-05, 3.849816130241379e-05, 3.333803761051968e-05, 2.8869548259535804e-05];
const TORCH_LLAMA3_500K_128 = [1.0, 0.8146172165870667, 0.663601279258728, 0.5405809879302979, 0.44036662578582764, 0.3587302267551422, 0.2922278344631195, 0.2380538135766983, 0.193922758102417, 0.1579728126525879, 0.12868738174438477, 0.10483095049858093, 0.08539710193872452, 0.06956595182418823, 0.05666961893439293, 0.046164050698280334, 0.03760603070259094, 0.030634520575404167, 0.02495540864765644, 0.020329104736447334, 0.016560440883040428, 0.013490419834852219, 0.010989529080688953, 0.008952259086072445, 0.00729266507551074, 0.005940730683505535, 0.00483942124992609, 0.003942275885492563, 0.0032114461064338684, 0.0021665706299245358, 0.0013718936825171113, 0.0008567514596506953, 0.0005248460220173001, 0.0003126936499029398, 0.0001785077911335975, 9.556212171446532e-05, 7.784655463183299e-05, 6.341514381347224e-05, 5.165906986803748e-05, 4.208236714475788e-05, 3.428102354519069e-05, 2.7925909307668917e-05, 2.2748929040972143e-05, 1.8531669411459006e-05, 1.5096217794052791e-05, 1.2297638932068367e-05, 1.0017868589784484e-05, 8.160727702488657e-06, 6.647869668086059e-06, 5.415469331637723e-06, 4.411534519022098e-06, 3.593711880967021e-06, 2.927499735960737e-06, 2.3847917418606812e-06, 1.9426925064180978e-06, 1.5825507944100536e-06, 1.289173155782919e-06, 1.050182618200779e-06, 8.554969213037111e-07, 6.969025321268418e-07, 5.677088097399974e-07, 4.6246537976912805e-07, 3.76732259610435e-07, 3.068925877869333e-07];

/** Distance in f32 ulps. */
function ulps(a: number, b: number): number {
  const w = new Float32Array([a, b]);
  const i = new Int32Array(w.buffer);
  return Math.abs(i[0] - i[1]);
}

describe('ropeInvFreq', () => {
  const llama3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } as const;
  it.each([
    ['default', { base: 500000, dim: 128 }, TORCH_DEFAULT_500K_128],
    ['linear', { base: 10000, dim: 128, scaling: { rope_type: 'linear', factor: 4 } as const }, TORCH_LINEAR4_10K_128],
    ['llama3', { base: 500000, dim: 128, scaling: llama3 }, TORCH_LLAMA3_500K_128],
  ])('%s matches transformers within 1 ulp (torch powf vs f64 pow)', (_name, config, want) => {
    const got = ropeInvFreq(config);
    expect(got.length).toBe(64);
    for (let i = 0; i < 64; i++) expect(ulps(got[i], want[i]), `inv_freq[${i}]`).toBeLessThanOrEqual(1);
  });

  it('llama3 keeps high frequencies, divides low ones by the factor and blends between', () => {
    const base = ropeInvFreq({ base: 500000, dim: 128 });
    const scaled = ropeInvFreq({ base: 500000, dim: 128, scaling: llama3 });
    expect(scaled[0]).toBe(base[0]);
    expect(scaled[63]).toBe(Math.fround(base[63] / 8));
    const mid = scaled.findIndex((x, i) => x !== base[i] && x !== Math.fround(base[i] / 8));
    expect(mid).toBeGreaterThan(0);
  });

  it('tables hold cos/sin of f32(p * inv_freq), rounded once', () => {
    const inv = ropeInvFreq({ base: 10000, dim: 8 });
    const { cos, sin } = ropeTables(inv, 5);
    expect(cos.length).toBe(20);
    expect([cos[0], sin[0]]).toEqual([1, 0]);
    expect(cos[3 * 4 + 1]).toBe(Math.fround(Math.cos(Math.fround(3 * inv[1]))));
  });
});

describe('rowsum32', () => {
  it('sums 32 strided lanes then a tree (not left to right)', () => {
    const x = [1, ...new Array(31).fill(0), 2 ** -24, ...new Array(31).fill(0), 2 ** -24];
    // Lane 0 holds 1 + 2^-24 + 2^-24 in order: each addition rounds back to 1.
    expect(rowsum32(0, x.length, (j) => x[j], Math.fround)).toBe(1);
    const y = [1, 2 ** -24, 0, 2 ** -24];
    // Lanes 1 and 3 meet in the tree first (off = 2), then lane 0: 2^-23 survives.
    expect(rowsum32(0, y.length, (j) => y[j], Math.fround)).toBe(1 + 2 ** -23);
  });
});

/** Run an nn kernel on f32 arrays (bytes in, bytes out). */
function run(id: string, p: Record<string, number>, arrays: Record<string, Float32Array | Int32Array>) {
  const bufs = Object.fromEntries(Object.entries(arrays).map(([k, v]) => [k, new Uint8Array(v.buffer)]));
  runNn(id, p, bufs);
  return arrays;
}

describe('nn reference semantics', () => {
  it('embedding: an out-of-range id gives a zero row; backward sums in token order', () => {
    const out = run('nn.embedding', { n: 3, c: 2, v: 2 }, { ids: Int32Array.of(1, 5, -1), table: Float32Array.of(1, 2, 3, 4), out: new Float32Array(6).fill(9) }).out;
    expect(Array.from(out)).toEqual([3, 4, 0, 0, 0, 0]);
    const dt = run('nn.embedding_backward', { n: 3, c: 1, v: 2, accumulate: 1 }, { ids: Int32Array.of(0, 0, 0), dout: Float32Array.of(2 ** -24, 2 ** -24, 1), dtable: Float32Array.of(1, 7) }).dtable;
    // ((1 + 2^-24) + 2^-24) + 1 in this order: both small terms round away.
    expect(Array.from(dt)).toEqual([2, 7]);
  });

  it('attention keys: causal, within the document (i - pos), within the window', () => {
    const pos = Int32Array.of(0, 1, 2, 0, 1, 2, 3);
    const p = { t: 7, window: 0 };
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => attentionLo(p, pos, 0, i))).toEqual([0, 0, 0, 3, 3, 3, 3]);
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => attentionLo({ t: 7, window: 2 }, pos, 0, i))).toEqual([0, 0, 1, 3, 3, 4, 5]);
  });

  it('attention equals a plain masked softmax (f64, one head of a packed GQA row)', () => {
    const [t, h, hkv, d] = [70, 2, 1, 3];
    const q = Float64Array.from(randn(t * h * d, 1));
    const k = Float64Array.from(randn(t * hkv * d, 2));
    const v = Float64Array.from(randn(t * hkv * d, 3));
    const pos = Int32Array.from({ length: t }, (_, i) => (i < 30 ? i : i - 30));
    const p = { b: 1, t, h, h_kv: hkv, d, window: 20, scale: 0.5 };
    const a = { q, k, v, pos, o: new Float64Array(t * h * d), lse: new Float64Array(h * t) };
    nnArrayKernels['nn.attention'](p, a, F64);
    for (const hh of [0, 1]) {
      for (const i of [0, 29, 30, 31, 69]) {
        const lo = Math.max(i < 30 ? 0 : 30, i - 19);
        const s = [];
        for (let j = lo; j <= i; j++) s.push(0.5 * [0, 1, 2].reduce((acc, dd) => acc + q[(i * h + hh) * d + dd] * k[j * d + dd], 0));
        const m = Math.max(...s);
        const z = s.reduce((acc, x) => acc + Math.exp(x - m), 0);
        expect(a.lse[hh * t + i]).toBeCloseTo(m + Math.log(z), 12);
        for (let dd = 0; dd < d; dd++) {
          const o = s.reduce((acc, x, jj) => acc + (Math.exp(x - m) / z) * v[(lo + jj) * d + dd], 0);
          expect(a.o[(i * h + hh) * d + dd]).toBeCloseTo(o, 12);
        }
      }
    }
  });

  it('cross-entropy: ignored rows give 0 loss and 0 gradient; the loss is -log_softmax[label]', () => {
    const logits = Float32Array.of(1, 2, 3, 1, 2, 3);
    const r = run('nn.cross_entropy', { n: 2, v: 3, ignore_index: -100 }, { logits, labels: Int32Array.of(2, -100), loss: new Float32Array(2), lse: new Float32Array(2) });
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
    expect(r.loss[0]).toBeCloseTo(lse - 3, 6);
    expect(Object.is(r.loss[1], 0)).toBe(true);
    const g = run('nn.cross_entropy_backward', { n: 2, v: 3, ignore_index: -100 }, { dlogits: logits.slice(), labels: Int32Array.of(2, -100), lse: r.lse as Float32Array, dloss: Float32Array.of(1, 1) }).dlogits;
    expect(g[0] + g[1] + g[2]).toBeCloseTo(0, 6);
    expect(Array.from(g.slice(3))).toEqual([0, 0, 0]);
  });

  it('argmax: ties to the lowest index, NaN wins', () => {
    const ids = run('nn.argmax', { n: 3, v: 4 }, { x: Float32Array.of(1, 3, 3, 0, -0, 0, -1, -2, 1, Number.NaN, 5, Number.NaN), ids: new Int32Array(3) }).ids;
    expect(Array.from(ids)).toEqual([1, 0, 1]);
  });

  it('sample: ranks by value then index, top-k, top-p, and the uniform picks along the cumulative sum', () => {
    const z = [0, 1, 1, -5];
    expect(sampleRow(z, 0, 0, 1)).toBe(1); // first rank: the lower index of the tie
    expect(sampleRow(z, 0.99, 2, 1)).toBe(2); // top-2 keeps only the tie
    expect(sampleRow(z, 0.99, 0, 0.5)).toBe(2); // top-p 0.5 needs both tied tokens (0.42 of the mass each)
    expect(sampleRow(z, 0.99, 0, 0.4)).toBe(1); // top-p 0.4: the first one holds it
    expect(sampleRow([Number.NaN, 1], 0.5, 0, 1)).toBe(-1);
    expect(sampleRow([Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY], 0.5, 0, 1)).toBe(-1);
    // With u just below 1 the last kept token is chosen.
    expect(sampleRow(z, 0.999999, 0, 1, F32)).toBe(3);
  });
});
