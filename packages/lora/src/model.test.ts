/**
 * LoraModel: targets (lists, regexes, all-linear, architecture defaults, patterns), several named
 * adapters on one base (add, set active, disable, delete, weighted "linear" combination), the
 * trainable-parameter line and the memory report. Reference runtime: this is bookkeeping.
 */
import { ConfigError, type Runtime } from '@kvant/abi';
import { expectedTensors, parseHfConfig } from '@kvant/formats';
import { ReferenceRuntime } from '@kvant/reference';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveLoraConfig } from './config';
import { baseModelFromHf } from './hf-base';
import { H, tinyBase, tinyConfig } from './test-models';
import { LoraModel } from './model';
import { data, get, hostMatmul, put, relError, sameBits } from './test-support';

describe('LoraModel', () => {
  let rt: Runtime;
  beforeAll(() => {
    rt = new ReferenceRuntime();
  });
  afterAll(() => rt.dispose());

  it('targets as PEFT: default q/v for llama, lists by suffix, regex full match, all-linear without lm_head, exclude and modules_to_save', async () => {
    const base = await tinyBase(rt);
    const m = await LoraModel.create(base);
    expect([...m.layers.keys()]).toEqual(['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.v_proj']);
    const all = m.resolve({ target_modules: 'ALL-LINEAR' });
    expect(all.targets).toHaveLength(14);
    expect(all.targets).not.toContain('lm_head');
    expect(m.resolve({ target_modules: '.*\\.1\\..*(up|down)_proj' }).targets).toEqual(['model.layers.1.mlp.up_proj', 'model.layers.1.mlp.down_proj']);
    expect(() => m.resolve({ target_modules: 'up_proj' })).toThrow(/a regex matching at least one linear module/); // a regex matches the whole name
    expect(m.resolve({ target_modules: ['o_proj'], exclude_modules: ['model.layers.0.self_attn.o_proj'] }).targets).toEqual(['model.layers.1.self_attn.o_proj']);
    expect(m.resolve({ target_modules: 'all-linear', modules_to_save: ['down_proj'] }).targets).not.toContain('model.layers.0.mlp.down_proj');
    expect(() => m.resolve({ target_modules: ['q_proj', 'qkv_proj'] })).toThrow(/target_modules: expected names of linear modules of the base .* found "qkv_proj"/);
    m.free();
  });

  it('refuses the empty regex match and gives phi3 and qwen2 their defaults', async () => {
    const base = await tinyBase(rt);
    const m = await LoraModel.create(base, { target_modules: ['q_proj'] });
    expect(() => m.resolve({ target_modules: 'up_proj' })).toThrow(ConfigError);
    m.free();
    const phi = await baseModelFromHf(rt, parseHfConfig({ model_type: 'phi3', hidden_size: H, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 24 }, 'config.json'), (n) => {
      const t = expectedTensors(tinyConfig()).find((e) => e.name === n);
      return data(t ? t.shape.reduce((a, b) => a * b, 1) : { 'model.layers.0.self_attn.qkv_proj.weight': 3 * H * H, 'model.layers.0.mlp.gate_up_proj.weight': 64 * H }[n]!, 5);
    });
    const pm = await LoraModel.create(phi);
    expect([...pm.layers.keys()]).toEqual(['model.layers.0.self_attn.qkv_proj']);
    expect(pm.resolve({ target_modules: 'all-linear' }).targets).toEqual(['model.layers.0.self_attn.qkv_proj', 'model.layers.0.self_attn.o_proj', 'model.layers.0.mlp.gate_up_proj', 'model.layers.0.mlp.down_proj']);
    pm.free();
  });

  it('applies rank_pattern and alpha_pattern per module (first matching key, matched at the end of the name)', async () => {
    const base = await tinyBase(rt);
    const m = await LoraModel.create(base, { r: 4, lora_alpha: 8, target_modules: 'all-linear', rank_pattern: { 'layers\\.1\\..*_proj': 2, down_proj: 6 }, alpha_pattern: { o_proj: 1 } });
    expect(m.layer('model.layers.0.mlp.down_proj').adapter('default').r).toBe(6);
    expect(m.layer('model.layers.1.mlp.up_proj').adapter('default').r).toBe(2);
    expect(m.layer('model.layers.0.self_attn.q_proj').adapter('default').scaling).toBe(2);
    expect(m.layer('model.layers.0.self_attn.o_proj').adapter('default').scaling).toBe(1 / 4);
    const rs = m.resolve({ use_rslora: true, r: 16, lora_alpha: 8 });
    await m.addAdapter('rs', rs);
    expect(m.layer('model.layers.0.self_attn.q_proj').adapter('rs').scaling).toBe(8 / 4);
    m.free();
  });

  it('several adapters: add, set active, disable (base alone), delete', async () => {
    const base = await tinyBase(rt);
    const m = await LoraModel.create(base, { target_modules: ['q_proj'], init_lora_weights: false }, 'one', { seed: 1 });
    await m.addAdapter('two', { target_modules: ['q_proj', 'k_proj'], init_lora_weights: false }, { seed: 2 });
    const q = m.layer('model.layers.0.self_attn.q_proj');
    const x = put(rt, [3, H], data(3 * H, 7));
    const alone = rt.alloc('f32', [3, H]);
    q.base.forward(x, alone, 3);
    const y1 = await get((await q.forward(x)).y);
    expect(m.activeAdapter).toBe('one');
    expect(m.layer('model.layers.0.self_attn.k_proj').active).toEqual([]); // "two" is not active yet
    m.setAdapter('two');
    expect(q.active).toEqual(['two']);
    expect(q.adapter('one').trainable).toBe(false);
    expect(q.adapter('two').trainable).toBe(true);
    const y2 = await get((await q.forward(x)).y);
    expect(sameBits(y1, y2)).toBe(false);
    await m.disableAdapters();
    expect(sameBits(await get((await q.forward(x)).y), await get(alone))).toBe(true);
    m.enableAdapters();
    m.deleteAdapter('two');
    expect(m.activeAdapter).toBe('one');
    expect(m.layers.has('model.layers.0.self_attn.k_proj')).toBe(false);
    expect(sameBits(await get((await q.forward(x)).y), y1)).toBe(true);
    expect(() => m.setAdapter('two')).toThrow(/adapter: expected one of "one", found "two"/);
    m.free();
  });

  it("add_weighted_adapter 'linear': A = Σ sign·sqrt(|w·s|)·Aᵢ, B = Σ sqrt(|w·s|)·Bᵢ, scaling 1; unequal ranks refused", async () => {
    const base = await tinyBase(rt);
    const m = await LoraModel.create(base, { r: 4, lora_alpha: 8, target_modules: ['v_proj'], init_lora_weights: false }, 'a', { seed: 1 });
    await m.addAdapter('b', { r: 4, lora_alpha: 2, target_modules: ['v_proj'], init_lora_weights: false }, { seed: 2 });
    const c = await m.addWeightedAdapter(['a', 'b'], [0.7, -1.5], 'mix');
    expect([c.r, c.lora_alpha]).toEqual([4, 4]);
    const v = m.layer('model.layers.1.self_attn.v_proj');
    const [a, b, mix] = [v.adapter('a'), v.adapter('b'), v.adapter('mix')];
    expect(mix.scaling).toBe(1);
    const wa = 0.7 * a.scaling;
    const wb = -1.5 * b.scaling;
    const [Aa, Ab, Ba, Bb] = [await get(a.A), await get(b.A), await get(a.B), await get(b.B)];
    expect(relError(await get(mix.A), Aa.map((x, i) => Math.sqrt(wa) * x - Math.sqrt(-wb) * Ab[i]))).toBeLessThan(1e-6);
    expect(relError(await get(mix.B), Ba.map((x, i) => Math.sqrt(wa) * x + Math.sqrt(-wb) * Bb[i]))).toBeLessThan(1e-6);
    await m.addAdapter('r2', { r: 2, target_modules: ['v_proj'] });
    await expect(m.addWeightedAdapter(['a', 'r2'], [1, 1], 'bad')).rejects.toThrow(/expected adapters of one rank .* found ranks 4, 2/);
    // the weighted delta is not Σ wᵢ·sᵢ·Bᵢ·Aᵢ (cross terms), as in PEFT
    const exact = hostMatmul(Ba, Aa, 16, 16, 4).map((x, i) => wa * x + wb * hostMatmul(Bb, Ab, 16, 16, 4)[i]);
    expect(relError(hostMatmul(await get(mix.B), await get(mix.A), 16, 16, 4), exact)).toBeGreaterThan(1e-3);
    m.free();
  });

  it("prints PEFT's trainable-parameter line, counting a 4-bit weight at its original element count, and the memory", async () => {
    const dense = await tinyBase(rt);
    const q4 = await tinyBase(rt, {}, true);
    const lines: string[] = [];
    const md = await LoraModel.create(dense, { r: 4, target_modules: 'all-linear' });
    const m4 = await LoraModel.create(q4, { r: 4, target_modules: 'all-linear' });
    md.printTrainableParameters((l) => lines.push(l));
    m4.printTrainableParameters((l) => lines.push(l));
    // base: embed 24·16 + 2·(4·16² + 3·16·32 + 2·16) + 16 + lm_head 24·16 = 5,968; LoRA r=4: 2·(4·4·(16+16) + 3·4·(16+32)) = 2,176
    expect(lines[0]).toBe('trainable params: 2,176 || all params: 8,144 || trainable%: 26.7191');
    expect(lines[1]).toBe(lines[0]);
    const mem = m4.memoryReport();
    expect(mem).toMatchObject({ parameters: 2176, adapterBytes: 4 * 2176, gradientBytes: 4 * 2176, optimizerBytes: 8 * 2176 });
    expect(mem.baseBytes).toBeLessThan(md.memoryReport().baseBytes / 3);
    md.free();
    m4.free();
  });

  it('validates LoraConfig with errors quoting the value and the expectation', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ r: 0 }, /LoraConfig\.r: expected a positive integer rank, found 0/],
      [{ r: 2.5 }, /r: expected a positive integer rank, found 2\.5/],
      [{ lora_alpha: -1 }, /lora_alpha: expected a positive finite number, found -1/],
      [{ lora_dropout: 1 }, /lora_dropout: expected a probability in \[0, 1\), found 1/],
      [{ bias: 'some' }, /bias: expected "none", "all" or "lora_only", found "some"/],
      [{ init_lora_weights: 'pissa' }, /init_lora_weights: expected true, false or "gaussian" .* found "pissa"/],
      [{ target_modules: [] }, /target_modules: expected a non-empty list/],
      [{ target_modules: '(' }, /target_modules: expected a valid regular expression, found "\("/],
      [{ target_modules: 3 }, /target_modules: expected a list of module names, a regex string, "all-linear" or null, found 3/],
      [{ rank_pattern: { q_proj: 0 } }, /rank_pattern\["q_proj"\]: expected a positive integer rank, found 0/],
      [{ fan_in_fan_out: true }, /fan_in_fan_out: expected false/],
      [{ use_dora: 'yes' }, /use_dora: expected true or false, found "yes"/],
      [{ lora_rank: 8 }, /LoraConfig\.lora_rank: expected one of the fields/],
      [{ target_modules: '(?P<x>q)_proj' }, /Python-only syntax/],
    ];
    for (const [c, re] of bad) expect(() => resolveLoraConfig(c as never), JSON.stringify(c)).toThrow(re);
    expect(resolveLoraConfig()).toMatchObject({ r: 8, lora_alpha: 8, lora_dropout: 0, bias: 'none', init_lora_weights: true, use_dora: false, use_rslora: false });
  });
});
