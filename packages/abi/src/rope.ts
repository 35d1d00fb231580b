/**
 * The host-side inputs of nn.rope: inv_freq as transformers computes it (rope_scaling default,
 * linear, llama3) and the cos/sin tables [maxPos, D/2] the kernel reads. In @kvant/abi, next to
 * the nn specs that define them, so the decoder (@kvant/model), the reference and the conformance
 * cases all use the one computation.
 */
const fr = Math.fround;

/** transformers' rope_scaling types that only change inv_freq. */
export type RopeScaling =
  | { readonly rope_type: 'default' }
  | { readonly rope_type: 'linear'; readonly factor: number }
  | {
      readonly rope_type: 'llama3';
      readonly factor: number;
      readonly low_freq_factor: number;
      readonly high_freq_factor: number;
      readonly original_max_position_embeddings: number;
    };

export interface RopeConfig {
  /** rope_theta. */
  readonly base: number;
  /** The rotated dims: head_dim (times partial_rotary_factor), even. */
  readonly dim: number;
  readonly scaling?: RopeScaling;
}

/**
 * inv_freq [dim/2] as transformers computes it, op for op in f32: default
 * `1 / base^(arange(0, dim, 2) / dim)`, linear `inv_freq / factor`, llama3 the
 * wavelength-dependent blend of `_compute_llama3_parameters` (python scalars, f32 tensors;
 * `scalar / tensor` is `tensor.reciprocal() * scalar` in torch).
 */
export function ropeInvFreq(config: RopeConfig): Float32Array {
  const { base, dim } = config;
  const half = dim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = fr(1 / fr(base ** fr((2 * i) / dim)));
  const s = config.scaling;
  if (!s || s.rope_type === 'default') return inv;
  if (s.rope_type === 'linear') return inv.map((x) => fr(x / s.factor));
  const lowWavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const highWavelen = s.original_max_position_embeddings / s.high_freq_factor;
  const twoPi = fr(2 * Math.PI);
  return inv.map((x) => {
    const wavelen = fr(fr(1 / x) * twoPi);
    const llama = wavelen > lowWavelen ? fr(x / s.factor) : x;
    if (wavelen < highWavelen || wavelen > lowWavelen) return llama;
    const smooth = fr(fr(fr(fr(1 / wavelen) * s.original_max_position_embeddings) - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor));
    return fr(fr(fr(fr(1 - smooth) * llama) / s.factor) + fr(smooth * llama));
  });
}

/**
 * The cos and sin tables [maxPos, inv.length] nn.rope reads: angle = f32(f32(p) * inv_freq[i]) as
 * transformers' f32 product, then cos/sin in f64 rounded once (times attention_scaling).
 */
export function ropeTables(invFreq: Float32Array, maxPos: number, attentionScaling = 1): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) {
    for (let i = 0; i < half; i++) {
      const angle = fr(fr(p) * invFreq[i]);
      cos[p * half + i] = fr(Math.cos(angle) * attentionScaling);
      sin[p * half + i] = fr(Math.sin(angle) * attentionScaling);
    }
  }
  return { cos, sin };
}

