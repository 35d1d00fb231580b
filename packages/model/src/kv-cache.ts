/**
 * Generation with a KV cache: the keys and values of every token already seen stay on the runtime,
 * per layer [1, S, Hkv, D] (S the capacity), so that each new token costs one block pass over one
 * row instead of a forward over the whole sequence. `decodeForward` is the inference forward of
 * the new tokens of one row (a prompt's prefill, then one token per step):
 *
 *   x = embed_tokens[ids]                                      nn.embedding          (n, C)
 *   per layer: ln1 = rmsnorm(x); q, k, v projections (+ LoRA)    nn.rmsnorm, linear    (n, Q|KV)
 *     q, k = rope(q, k) at positions t0 .. t0 + n - 1            nn.rope
 *     cache.k[l], cache.v[l] rows t0 .. t0 + n - 1 = k, v        nn.kv_append
 *     att = attention of the n queries against rows [0, t0 + n)  nn.attention_decode   (n, H, D)
 *     x = resMid + down(swiglu(gate, up)(rmsnorm(resMid))), resMid = x + o(att)
 *   logits = head(rmsnorm(x[n - 1]))                           only the last row     (V)
 *
 * Every kernel computes a row exactly as the full forward computes that row (matmul sums each
 * element over k in order whatever M is; nn.attention_decode keeps nn.attention's key tiles), so
 * on one runtime the cached logits are the bits of the uncached forward's last row (tested).
 * Nothing is kept for backward and LoRA dropout is off: this is inference only.
 *
 * Memory: 2·L·KV·4 bytes per token of capacity (`kvCacheBytes`), plus step buffers for n rows.
 */
import { type Runtime, type Tensor, TensorError } from '@kvant/abi';
import { addBias, releaseSaved } from '@kvant/lora';
import { type Selectors, takeColumns } from './columns';
import type { Decoder } from './decoder';
import { type DecoderConfig, kvWidth, qWidth } from './decoder-config';
import type { LinearModule } from './decoder-weights';
import type { RopeTables } from './rope-tables';

/** Kernels the cached forward dispatches besides the full forward's (check them with `rt.supports`). */
export const DECODER_CACHE_KERNELS = ['nn.kv_append', 'nn.attention_decode'] as const;

/** Bytes of a KV cache holding `tokens` tokens of one row: keys and values of every layer, f32. */
export function kvCacheBytes(config: DecoderConfig, tokens: number): number {
  return 2 * config.layers * kvWidth(config) * 4 * tokens;
}

/** The buffers of one cached step of n rows (reused while n stays the same). */
interface StepBuffers {
  readonly n: number;
  readonly ids: Tensor;
  readonly pos: Tensor;
  readonly ones: Tensor;
  readonly x: Tensor;
  readonly ln: Tensor;
  readonly rstd: Tensor;
  readonly qkv?: Tensor;
  readonly qRaw: Tensor;
  readonly kRaw: Tensor;
  readonly v: Tensor;
  readonly q: Tensor;
  readonly k: Tensor;
  readonly att: Tensor;
  readonly proj: Tensor;
  readonly resMid: Tensor;
  readonly gateUp?: Tensor;
  readonly gate: Tensor;
  readonly up: Tensor;
  readonly act: Tensor;
}

/** Keys and values of one row's tokens so far, per layer [1, S, Hkv, D], on the runtime. */
export class KvCache {
  /** Keys (after rope) and values of layer l: [1, capacity, Hkv, D]; rows < length are valid. */
  readonly k: readonly Tensor[];
  readonly v: readonly Tensor[];
  /** Tokens in the cache (the next token's position). */
  length = 0;
  private step: StepBuffers | undefined;
  /** The last row's final norm [1, C] and logits [1, V] (what `decodeForward` returns). */
  readonly lnLast: Tensor;
  readonly xLast: Tensor;
  readonly rstdLast: Tensor;
  readonly logits: Tensor;

  constructor(
    readonly runtime: Runtime,
    readonly config: DecoderConfig,
    /** S: the most tokens the cache holds (prompt and generated tokens together). */
    readonly capacity: number,
  ) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new TensorError('KvCache capacity', 'a positive integer number of tokens', String(capacity));
    const shape = [1, capacity, config.kvHeads, config.headDim];
    this.k = Array.from({ length: config.layers }, () => runtime.alloc('f32', shape));
    this.v = Array.from({ length: config.layers }, () => runtime.alloc('f32', shape));
    this.xLast = runtime.alloc('f32', [1, config.hidden]);
    this.lnLast = runtime.alloc('f32', [1, config.hidden]);
    this.rstdLast = runtime.alloc('f32', [1]);
    this.logits = runtime.alloc('f32', [1, config.vocab]);
  }

  /** Bytes the keys and values hold (kvCacheBytes of the capacity). */
  get byteLength(): number {
    return kvCacheBytes(this.config, this.capacity);
  }

  /** Forget every token (the buffers stay allocated). */
  reset(): void {
    this.length = 0;
  }

  /** Step buffers for n rows, allocated when n changes (a prefill, then n = 1 per token). */
  buffers(n: number): StepBuffers {
    if (this.step?.n === n) return this.step;
    this.freeStep();
    const rt = this.runtime;
    const c = this.config;
    const [Q, KV, I, C] = [qWidth(c), kvWidth(c), c.intermediate, c.hidden];
    const f = (shape: number[]) => rt.alloc('f32', shape);
    const phi3 = c.modelType === 'phi3';
    const ones = f([n]);
    rt.write(ones, new Float32Array(n).fill(1));
    this.step = {
      n,
      ids: rt.alloc('i32', [n]),
      pos: rt.alloc('i32', [n]),
      ones,
      x: f([n, C]),
      ln: f([n, C]),
      rstd: f([n]),
      qkv: phi3 ? f([n, Q + 2 * KV]) : undefined,
      qRaw: f([n, Q]),
      kRaw: f([n, KV]),
      v: f([n, KV]),
      q: f([n, Q]),
      k: f([n, KV]),
      att: f([n, Q]),
      proj: f([n, C]),
      resMid: f([n, C]),
      gateUp: phi3 ? f([n, 2 * I]) : undefined,
      gate: f([n, I]),
      up: f([n, I]),
      act: f([n, I]),
    };
    return this.step;
  }

  private freeStep(): void {
    if (!this.step) return;
    for (const [key, t] of Object.entries(this.step)) if (key !== 'n' && t) this.runtime.free(t as Tensor);
    this.step = undefined;
  }

  free(): void {
    this.freeStep();
    for (const t of [...this.k, ...this.v, this.xLast, this.lnLast, this.rstdLast, this.logits]) this.runtime.free(t);
  }
}

/** What the cached forward needs from a Decoder beyond its public fields. */
export interface DecodeContext {
  readonly model: Decoder;
  readonly rope: RopeTables;
  readonly selectors: Selectors;
}

/**
 * Run the new tokens `inputIds` of one row (positions cache.length ..) through the decoder with
 * the cache, append their keys and values, and return the logits of the last one [1, V] (the
 * cache's `logits` tensor, overwritten by the next call).
 */
export async function decodeForward(ctx: DecodeContext, cache: KvCache, inputIds: ArrayLike<number>): Promise<Tensor> {
  const { model, selectors } = ctx;
  const rt = model.runtime;
  const c = model.config;
  if (cache.runtime !== rt || cache.config !== c) throw new TensorError('Decoder.forwardCached cache', 'a KvCache made by this decoder (createKvCache)', 'a cache of another model or runtime');
  const n = inputIds.length;
  const t0 = cache.length;
  if (n === 0) throw new TensorError('Decoder.forwardCached inputIds', 'at least one token', 'none');
  if (t0 + n > cache.capacity) throw new TensorError('Decoder.forwardCached', `at most ${cache.capacity} tokens in the cache (its capacity)`, `${t0} + ${n} new`);
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const id = inputIds[i];
    if (!(Number.isInteger(id) && id >= 0 && id < c.vocab)) throw new TensorError(`Decoder.forwardCached inputIds[${i}]`, `a token id in [0, ${c.vocab}) (vocab_size)`, String(id));
    ids[i] = id;
  }
  const s = cache.buffers(n);
  const [Q, KV, I, C] = [qWidth(c), kvWidth(c), c.intermediate, c.hidden];
  rt.write(s.ids, ids);
  rt.write(s.pos, Int32Array.from({ length: n }, (_, i) => t0 + i));
  const maxPos = ctx.rope.ensure(t0 + n - 1);
  const rope = { cos: ctx.rope.cos!, sin: ctx.rope.sin! };
  const lin = (mod: LinearModule, x: Tensor, y: Tensor, m = n) => inferenceLinear(model, mod, x, y, m, s.ones);
  const w = model.weights;

  // x = embed_tokens[ids] (n, C)
  rt.dispatch('nn.embedding', { ids: s.ids, table: w.embed, out: s.x }, { n, c: C, v: c.vocab });
  for (let l = 0; l < c.layers; l++) {
    const lw = w.layers[l];
    // ln1 = rmsnorm(x) (n, C); q, k, v projections (n, Q | KV) — Phi-3: qkv (n, Q + 2KV), then split
    rt.dispatch('nn.rmsnorm', { x: s.x, w: lw.inputNorm, y: s.ln, rstd: s.rstd }, { n, c: C, eps: c.eps });
    if (lw.qkv) {
      const F = Q + 2 * KV;
      await lin(lw.qkv, s.ln, s.qkv!);
      takeColumns(rt, selectors, s.qkv!, s.qRaw, n, F, 0, Q);
      takeColumns(rt, selectors, s.qkv!, s.kRaw, n, F, Q, KV);
      takeColumns(rt, selectors, s.qkv!, s.v, n, F, Q + KV, KV);
    } else {
      await lin(lw.q!, s.ln, s.qRaw);
      await lin(lw.k!, s.ln, s.kRaw);
      await lin(lw.v!, s.ln, s.v);
    }
    // q, k = rope at positions t0 .. t0 + n - 1
    rt.dispatch('nn.rope', { x: s.qRaw, pos: s.pos, ...rope, y: s.q }, { n, h: c.heads, d: c.headDim, max_pos: maxPos });
    rt.dispatch('nn.rope', { x: s.kRaw, pos: s.pos, ...rope, y: s.k }, { n, h: c.kvHeads, d: c.headDim, max_pos: maxPos });
    // cache rows t0 .. t0 + n - 1 = k, v [n, Hkv·D]
    const append = { b: 1, t_new: n, t0, s: cache.capacity, w: KV };
    rt.dispatch('nn.kv_append', { src: s.k, cache: cache.k[l] }, append);
    rt.dispatch('nn.kv_append', { src: s.v, cache: cache.v[l] }, append);
    // att (n, H, D): the n queries against cache rows [0, t0 + n), causal, window as the layer says
    rt.dispatch(
      'nn.attention_decode',
      { q: s.q, k_cache: cache.k[l], v_cache: cache.v[l], pos: s.pos, o: s.att },
      { b: 1, t_q: n, t_k: t0 + n, s: cache.capacity, h: c.heads, h_kv: c.kvHeads, d: c.headDim, window: c.windows[l], scale: Math.fround(1 / Math.sqrt(c.headDim)) },
    );
    // resMid = x + att·Woᵀ; ln2 = rmsnorm(resMid) (n, C)
    await lin(lw.o, s.att, s.proj);
    rt.dispatch('linalg.add', { a: s.x, b: s.proj, c: s.resMid }, { n: n * C });
    rt.dispatch('nn.rmsnorm', { x: s.resMid, w: lw.postNorm, y: s.ln, rstd: s.rstd }, { n, c: C, eps: c.eps });
    // gate, up (n, I) — Phi-3: gateUp (n, 2I), then split; act = silu(gate)·up
    if (lw.gateUp) {
      await lin(lw.gateUp, s.ln, s.gateUp!);
      takeColumns(rt, selectors, s.gateUp!, s.gate, n, 2 * I, 0, I);
      takeColumns(rt, selectors, s.gateUp!, s.up, n, 2 * I, I, I);
    } else {
      await lin(lw.gate!, s.ln, s.gate);
      await lin(lw.up!, s.ln, s.up);
    }
    rt.dispatch('nn.swiglu', { gate: s.gate, up: s.up, out: s.act }, { n, inter: I });
    // x = resMid + act·Wdᵀ (n, C)
    await lin(lw.down, s.act, s.proj);
    rt.dispatch('linalg.add', { a: s.resMid, b: s.proj, c: s.x }, { n: n * C });
  }
  // Only the last row goes on: xLast = x[n - 1] (1, C); lnf = rmsnorm(xLast); logits = lnf·Wᵀ (1, V)
  takeColumns(rt, selectors, s.x, cache.xLast, 1, n * C, (n - 1) * C, C);
  rt.dispatch('nn.rmsnorm', { x: cache.xLast, w: w.norm, y: cache.lnLast, rstd: cache.rstdLast }, { n: 1, c: C, eps: c.eps });
  if (w.lmHead) await lin(w.lmHead, cache.lnLast, cache.logits, 1);
  else {
    rt.dispatch(
      'linalg.matmul',
      { a: cache.lnLast, b: w.embed, c: cache.logits },
      { m: 1, n: c.vocab, k: C, trans_a: 0, trans_b: 1, batch: 1, stride_a: 0, stride_b: 0, stride_c: 0, alpha: 1, beta: 0 },
    );
  }
  cache.length = t0 + n;
  return cache.logits;
}

/** y (m, N) = x·Wᵀ (+ bias) (+ the active LoRA branches, no dropout), as the decoder's inference forward. */
async function inferenceLinear(model: Decoder, mod: LinearModule, x: Tensor, y: Tensor, m: number, ones: Tensor): Promise<void> {
  const rt = model.runtime;
  const layer = model.lora?.layers.get(mod.name);
  if (!layer || layer.runningAdapters.length === 0) {
    mod.base.forward(x, y, m);
    if (mod.bias) addBias(rt, ones, mod.bias, y, m, mod.base.outFeatures);
    return;
  }
  releaseSaved(await layer.forwardInto(x, y, { training: false }));
}
