/**
 * Cases for the nn family: T = 1, primes (7, 13, 31), T not a multiple of any tile (65, 129),
 * grouped-query ratios 1, 2 and 4, packed rows of 3 documents, sliding windows shorter than T, D = 64
 * and an odd D (attention only; rope needs even D), rows of 4097+ (lanes and chunks not filled),
 * out-of-range ids and positions, ignored labels and a batch where every label is ignored, V not a
 * multiple of the 4096-chunk, huge and tiny logits, ties and NaN for argmax and sampling. Backward
 * cases take their saved tensors (o and lse, rstd, the logits' lse) from the forward's reference
 * through the `forward` generator. The whole set runs in about a second on the reference.
 */
import type { Params } from '@kvant/abi';
import type { Gen } from '../gen';
import type { Case } from './types';

let seed = 11000;
const next = () => seed++;

const RANDN: Gen = { gen: 'randn' };
const ints = (lo: number, hi: number): Gen => ({ gen: 'ints', lo, hi });

/** A forward case and the `forward` generators a backward case builds from it. */
function withForward(kernel: string, name: string, params: Params, inputs: Record<string, Gen>): { fwd: Case; from: (binding: string) => Gen } {
  const s = next();
  return { fwd: { kernel, name, params, inputs, seed: s }, from: (binding) => ({ gen: 'forward', kernel, params, inputs, seed: s, binding }) };
}

function embedding(): Case[] {
  const fwd: [number, number, number, Gen, Gen][] = [
    // n, c, v, ids, table
    [7, 13, 11, ints(-2, 12), RANDN], // out-of-range ids on both sides: rows of +0.0
    [1, 1, 1, ints(0, 0), RANDN],
    [65, 64, 1000, ints(0, 999), RANDN],
    [31, 129, 5, ints(-1, 5), { gen: 'awkward' }], // NaN, Inf, signed zeros copied bit for bit
  ];
  const bwd: [number, number, number, number, Gen][] = [
    // n, c, v, accumulate, ids
    [13, 7, 17, 0, ints(-1, 17)], // rows no token names stay +0.0
    [1, 1, 1, 1, ints(0, 0)],
    [129, 65, 7, 1, ints(0, 6)], // many tokens per id: the order of the sum matters
    [64, 31, 1000, 0, ints(0, 999)],
    [257, 3, 2, 0, ints(0, 1)],
  ];
  return [
    ...fwd.map(([n, c, v, ids, table]) => ({ kernel: 'nn.embedding', name: `n=${n} c=${c} v=${v} ids=${ids.gen === 'ints' ? `${ids.lo}..${ids.hi}` : ''} table=${table.gen}`, params: { n, c, v }, inputs: { ids, table }, seed: next() })),
    ...bwd.map(([n, c, v, accumulate, ids]) => ({
      kernel: 'nn.embedding_backward',
      name: `n=${n} c=${c} v=${v} accumulate=${accumulate}`,
      params: { n, c, v, accumulate },
      inputs: { ids, dout: RANDN, dtable: RANDN },
      seed: next(),
    })),
  ];
}

function rmsnorm(): Case[] {
  const shapes: [number, number, number, Gen, string][] = [
    // n, c, eps, x, label
    [7, 13, 1e-5, RANDN, ''],
    [1, 1, 1e-6, RANDN, ''],
    [13, 64, 1e-5, { gen: 'zero_blocks', blocksize: 64, every: 2 }, 'zero rows '],
    [5, 4097, 1e-6, { gen: 'randn', std: 1e-3 }, ''],
    [3, 257, 1e-5, { gen: 'mixed_scales', scales: [1e-3, 1, 1e3] }, 'mixed scales '],
    [31, 127, 1e-6, RANDN, ''],
  ];
  const out: Case[] = [];
  shapes.forEach(([n, c, eps, x, label], idx) => {
    const f = withForward('nn.rmsnorm', `${label}n=${n} c=${c} eps=${eps}`, { n, c, eps }, { x, w: RANDN });
    out.push(f.fwd);
    if (idx === 4) return;
    const accumulate = idx % 2;
    out.push({
      kernel: 'nn.rmsnorm_backward',
      name: `${label}n=${n} c=${c} accumulate=${accumulate}`,
      params: { n, c, accumulate },
      inputs: { x: f.from('x'), w: f.from('w'), rstd: f.from('rstd'), dy: idx === 2 ? { gen: 'zero_blocks', blocksize: 64, every: 3 } : RANDN, dw: RANDN },
      seed: next(),
    });
  });
  return out;
}

function rope(): Case[] {
  const llama3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } as const;
  const shapes: [number, number, number, number, Gen, Gen, string, Omit<Extract<Gen, { gen: 'rope_table' }>, 'part' | 'gen'>][] = [
    // n, h, d, max_pos, pos, x, label, table
    [7, 3, 64, 16, ints(-1, 16), RANDN, 'out-of-range positions ', { dim: 64, base: 10000 }],
    [1, 1, 2, 1, ints(0, 0), RANDN, '', { dim: 2, base: 10000 }],
    [26, 4, 64, 13, { gen: 'positions', t: 13, docs: [5, 8] }, { gen: 'zero_blocks', blocksize: 64, every: 3 }, 'B=2 T=13 packed ', { dim: 64, base: 10000 }],
    [129, 2, 128, 129, { gen: 'positions', t: 129 }, RANDN, 'llama3 ', { dim: 128, base: 500000, scaling: llama3 }],
    [31, 1, 6, 40, { gen: 'positions', t: 31, docs: [10, 11, 10] }, RANDN, 'linear x4 ', { dim: 6, base: 10000, scaling: { rope_type: 'linear', factor: 4 } }],
  ];
  return shapes.flatMap(([n, h, d, max_pos, pos, x, label, table]): Case[] => {
    const params = { n, h, d, max_pos };
    const tables = { cos: { gen: 'rope_table', part: 'cos', ...table } as Gen, sin: { gen: 'rope_table', part: 'sin', ...table } as Gen };
    const name = `${label}n=${n} h=${h} d=${d} max_pos=${max_pos}`;
    return [
      { kernel: 'nn.rope', name, params, inputs: { x, pos, ...tables }, seed: next() },
      { kernel: 'nn.rope_backward', name, params, inputs: { dy: x, pos, ...tables }, seed: next() },
    ];
  });
}

function attention(): Case[] {
  const shapes: [number, number, number, number, number, number, number[] | undefined][] = [
    // b, t, h, h_kv, d, window, documents per row
    [1, 1, 1, 1, 64, 0, undefined],
    [1, 7, 2, 1, 64, 0, undefined],
    [2, 13, 4, 1, 16, 0, [4, 5, 4]],
    [1, 31, 2, 2, 7, 0, undefined],
    [1, 65, 4, 2, 64, 17, undefined],
    [1, 129, 2, 1, 64, 0, [40, 60, 29]],
    [1, 129, 1, 1, 32, 50, [70, 59]],
  ];
  return shapes.flatMap(([b, t, h, h_kv, d, window, docs]): Case[] => {
    const params = { b, t, h, h_kv, d, window, scale: Math.fround(1 / Math.sqrt(d)) };
    const inputs = { q: RANDN, k: RANDN, v: RANDN, pos: { gen: 'positions', t, docs } as Gen };
    const name = `b=${b} t=${t} h=${h} h_kv=${h_kv} d=${d} window=${window}${docs ? ` docs=${docs.join('+')}` : ''}`;
    const f = withForward('nn.attention', name, params, inputs);
    const saved = Object.fromEntries(['q', 'k', 'v', 'pos', 'o', 'lse'].map((n) => [n, f.from(n)]));
    return [f.fwd, { kernel: 'nn.attention_backward', name, params, inputs: { ...saved, dout: RANDN }, seed: next() }];
  });
}

function attentionDecode(): Case[] {
  const shapes: [number, number, number, number, number, number, number, number, number[] | undefined][] = [
    // b, t_q, t_k, s, h, h_kv, d, window, documents in the t_k tokens of a row
    [1, 1, 1, 1, 1, 1, 64, 0, undefined],
    [1, 1, 70, 73, 4, 1, 64, 0, undefined], // one decode step, GQA 4, t_k past one tile, rows past t_k never read
    [2, 1, 129, 130, 4, 2, 16, 0, undefined],
    [1, 5, 67, 80, 2, 2, 7, 0, undefined], // odd D, queries 62..66 across a tile boundary
    [1, 7, 200, 211, 2, 1, 64, 50, undefined], // window shorter than t_k
    [2, 13, 13, 17, 4, 2, 32, 5, undefined], // a prefill (t_q = t_k) with a window
    [1, 3, 100, 100, 2, 1, 32, 0, [60, 40]], // packed: the queries see only the second document
    [1, 9, 130, 131, 1, 1, 64, 17, [125, 5]], // queries straddle a document start, and a window
    [1, 16, 300, 301, 8, 2, 64, 0, undefined], // above the wasm runtime's 2^22 flops: split over threads
  ];
  return shapes.map(([b, t_q, t_k, s, h, h_kv, d, window, docs]) => ({
    kernel: 'nn.attention_decode',
    name: `b=${b} t_q=${t_q} t_k=${t_k} s=${s} h=${h} h_kv=${h_kv} d=${d} window=${window}${docs ? ` docs=${docs.join('+')}` : ''}`,
    params: { b, t_q, t_k, s, h, h_kv, d, window, scale: Math.fround(1 / Math.sqrt(d)) },
    inputs: { q: RANDN, k_cache: RANDN, v_cache: RANDN, pos: { gen: 'positions', t: t_k, docs, last: t_q } as Gen },
    seed: next(),
  }));
}

function kvAppend(): Case[] {
  const shapes: [number, number, number, number, number, Gen][] = [
    // b, t_new, t0, s, w, src
    [1, 1, 0, 1, 1, RANDN],
    [2, 5, 7, 13, 21, { gen: 'awkward' }], // NaN payloads, infinities and signed zeros copied as bits
    [3, 1, 12, 13, 64, RANDN], // the last row of each batch row
    [1, 17, 0, 17, 129, { gen: 'edge_blocks' }],
    [2, 3, 4, 9, 7, RANDN],
  ];
  return shapes.map(([b, t_new, t0, s, w, src]) => ({
    kernel: 'nn.kv_append',
    name: `b=${b} t_new=${t_new} t0=${t0} s=${s} w=${w} src=${src.gen}`,
    params: { b, t_new, t0, s, w },
    inputs: { src, cache: RANDN },
    seed: next(),
  }));
}

function swiglu(): Case[] {
  const shapes: [number, number, Gen, string][] = [
    [1, 1, RANDN, ''],
    [7, 13, { gen: 'randn', std: 3 }, ''],
    [13, 1000, { gen: 'uniform', lo: -100, hi: 100 }, 'exp overflow '],
    [3, 31, { gen: 'cycle', values: [-88.7, -89, -1.278, 0, -0, 88.7, 20, -20, 1e-30, -103] }, 'edges '],
  ];
  return shapes.flatMap(([n, inter, gate, label]): Case[] => {
    const params = { n, inter };
    const name = `${label}n=${n} i=${inter}`;
    // Backward gates stay in |g| <= 12, where dgate's absolute bound is derived.
    const bgate: Gen = label ? { gen: 'randn', std: 4 } : gate;
    return [
      { kernel: 'nn.swiglu', name, params, inputs: { gate, up: RANDN }, seed: next() },
      { kernel: 'nn.swiglu_backward', name, params, inputs: { gate: bgate, up: RANDN, dout: RANDN }, seed: next() },
    ];
  });
}

function crossEntropy(): Case[] {
  const shapes: [number, number, Gen, number, string][] = [
    // n, v, logits, fraction of ignored labels, label
    [1, 1, RANDN, 0, ''],
    [7, 13, { gen: 'randn', std: 3 }, 0.3, ''],
    [5, 4099, { gen: 'randn', std: 3 }, 0, 'two chunks '],
    [3, 9000, { gen: 'mixed_scales', scales: [1, 30, 100] }, 0, 'huge logits, three chunks '],
    [4, 31, RANDN, 1, 'every label ignored '],
    [5, 129, { gen: 'randn', std: 1e-30 }, 0.2, 'tiny logits '],
    [13, 8192, RANDN, 0.1, 'exactly two chunks '],
  ];
  return shapes.flatMap(([n, v, logits, ignored, label]): Case[] => {
    const params = { n, v, ignore_index: -100 };
    const name = `${label}n=${n} v=${v} ignored=${ignored}`;
    const f = withForward('nn.cross_entropy', name, params, { logits, labels: { gen: 'labels', v, ignored } });
    return [
      f.fwd,
      {
        kernel: 'nn.cross_entropy_backward',
        name,
        params,
        inputs: { dlogits: f.from('logits'), labels: f.from('labels'), lse: f.from('lse'), dloss: { gen: 'uniform', lo: 0, hi: 1 } },
        seed: next(),
      },
    ];
  });
}

function argmaxAndSample(): Case[] {
  const ties: Gen = { gen: 'cycle', values: [1, 0, 1, -0, 0, 2, 2, -1] };
  const argmax: [number, number, Gen, string][] = [
    [1, 1, RANDN, ''],
    [7, 13, RANDN, ''],
    [13, 31, ties, 'ties '],
    [17, 65, { gen: 'awkward' }, 'NaN and Inf '],
    [3, 4099, RANDN, ''],
    [2, 5, { gen: 'const', value: Number.NEGATIVE_INFINITY }, 'all -Inf '],
  ];
  const sample: [number, number, number, number, number, Gen, string][] = [
    // n, v, top_k, top_p, temperature, logits, label
    [1, 1, 0, 1, 1, RANDN, ''],
    [7, 13, 0, 1, 1, RANDN, ''],
    [13, 31, 5, 1, 0.7, { gen: 'randn', std: 2 }, ''],
    [13, 100, 0, 0.9, 1, { gen: 'randn', std: 2 }, ''],
    [5, 1000, 50, 0.95, 0.8, { gen: 'randn', std: 3 }, ''],
    [4, 17, 2, 1, 1, { gen: 'cycle', values: [1, 1, 1, 0, 0.5] }, 'ties '],
    [9, 64, 0, 1, 1, { gen: 'awkward' }, 'NaN and Inf rows '],
  ];
  return [
    ...argmax.map(([n, v, x, label]) => ({ kernel: 'nn.argmax', name: `${label}n=${n} v=${v}`, params: { n, v }, inputs: { x }, seed: next() })),
    ...sample.map(([n, v, top_k, top_p, temperature, logits, label]) => ({
      kernel: 'nn.sample',
      name: `${label}n=${n} v=${v} top_k=${top_k} top_p=${top_p} temperature=${temperature}`,
      params: { n, v, top_k, top_p: Math.fround(top_p), inv_temperature: Math.fround(1 / temperature) },
      inputs: { logits, uniforms: { gen: 'uniform', lo: 0, hi: 1 } } as Record<string, Gen>,
      seed: next(),
    })),
  ];
}

export const nnCases: Case[] = [...embedding(), ...rmsnorm(), ...rope(), ...attention(), ...swiglu(), ...crossEntropy(), ...argmaxAndSample(), ...attentionDecode(), ...kvAppend()];
