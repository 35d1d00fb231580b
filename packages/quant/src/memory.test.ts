import { ConfigError } from '@kvant/abi';
import { expectedTensors, ModelFileError, parseHfConfig } from '@kvant/formats';
import { describe, expect, it } from 'vitest';
import {
  countParameters,
  fourBitBitsPerParam,
  fourBitTensorBytes,
  loraTrainableParameters,
  memoryReport,
  weightMemory,
} from './memory';
import { findPreset, MODEL_PRESETS } from './presets';

const phi3 = findPreset('phi-3-mini')!.config;

/** Llama layout with grouped-query attention: 8 heads share 2 kv heads (head_dim 16), untied. */
const llamaGqa = {
  model_type: 'llama',
  hidden_size: 128,
  intermediate_size: 344,
  num_hidden_layers: 2,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  vocab_size: 1000,
  tie_word_embeddings: false,
};

/** Gemma layout: tied embeddings by default, head_dim (32) not hidden/heads (24), one kv head. */
const gemmaTied = {
  model_type: 'gemma',
  hidden_size: 96,
  intermediate_size: 256,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  head_dim: 32,
  vocab_size: 500,
};

const byFormat = (config: unknown, format: string, options = {}) => weightMemory(config, options).find((w) => w.format === format)!;

describe('countParameters', () => {
  it('counts Phi-3-mini (fused qkv_proj and gate_up_proj, untied): 3.82B', () => {
    const p = countParameters(phi3);
    // per layer: qkv 3072x9216 + o 3072x3072 + gate_up 3072x16384 + down 8192x3072 = 113,246,208
    expect(p.linear).toBe(113_246_208 * 32);
    // embed + lm_head 2 x 32064 x 3072, norms 2 x 3072 x 32 + 3072
    expect(p.rest).toBe(2 * 98_500_608 + 196_608 + 3072);
    expect(p.total).toBe(3_821_079_552);
    expect(p.linearTensors).toBe(4 * 32);
  });

  it('counts a Llama layout with GQA by hand', () => {
    const p = countParameters(llamaGqa);
    // q 128x128 + k 128x32 + v 128x32 + o 128x128 = 40,960; gate, up, down 3 x 128x344 = 132,096
    expect(p.linear).toBe(2 * (40_960 + 132_096));
    expect(p.norms).toBe(2 * 2 * 128 + 128);
    expect(p.embedding).toBe(128_000);
    expect(p.lmHead).toBe(128_000);
    expect(p.total).toBe(346_112 + 640 + 256_000);
  });

  it('counts tied embeddings once and honours head_dim', () => {
    const p = countParameters(gemmaTied);
    // q 96x128 + k 96x32 + v 96x32 + o 128x96 = 30,720; mlp 3 x 96x256 = 73,728
    expect(p.linear).toBe(3 * (30_720 + 73_728));
    expect(p.lmHead).toBe(0);
    expect(p.total).toBe(313_344 + (2 * 96 * 3 + 96) + 48_000);
    expect(countParameters({ ...gemmaTied, tie_word_embeddings: false }).lmHead).toBe(48_000);
  });

  it('counts the q/k/v biases of Qwen2 as rest, and matches published totals', () => {
    const qwen = countParameters(findPreset('qwen2.5-0.5b')!.config);
    expect(qwen.biases).toBe(24 * (896 + 128 + 128));
    expect(qwen.total).toBe(494_032_768);
    expect(countParameters(findPreset('llama-3.1-8b')!.config).total).toBe(8_030_261_248);
    expect(countParameters(findPreset('mistral-7b-v0.1')!.config).total).toBe(7_241_732_096);
    expect(countParameters(findPreset('tinyllama-1.1b')!.config).total).toBe(1_100_048_384);
  });

  it('throws ModelFileError (the config reader of @kvant/formats) naming the file and a missing or malformed field', () => {
    const { hidden_size: _, ...noHidden } = llamaGqa;
    expect(() => countParameters(noHidden)).toThrow(ModelFileError);
    expect(() => countParameters(noHidden, 'models/x/config.json')).toThrow(/^models\/x\/config\.json: expected "hidden_size"/);
    expect(() => countParameters(noHidden)).toThrow(/hidden_size/);
    expect(() => countParameters({ ...llamaGqa, vocab_size: '32000' })).toThrow(/vocab_size.*"32000"/);
    expect(() => countParameters({ ...llamaGqa, num_key_value_heads: 3 })).toThrow(/num_key_value_heads/);
    expect(() => countParameters({ ...llamaGqa, model_type: 'gpt2' })).toThrow(/model_type/);
    expect(() => countParameters(null)).toThrow(ModelFileError);
  });
});

// Issue 7: `kvant memory` and `kvant quantize` once read config.json with two different readers that
// disagreed. There is one now (@kvant/formats); these are the cases where they disagreed.
describe("one config reader for memory and quantize", () => {
	const total = (config: Record<string, unknown>) =>
		expectedTensors(parseHfConfig(config as never, "c")).reduce(
			(n, t) => n + t.shape.reduce((a, b) => a * b, 1),
			0,
		);
	const configs: Record<string, Record<string, unknown>> = {
		llamaGqa,
		gemmaTied,
		qwen3: { ...llamaGqa, model_type: "qwen3", head_dim: 16 },
		gemma2: { ...gemmaTied, model_type: "gemma2" },
		llamaBiased: { ...llamaGqa, attention_bias: true, mlp_bias: true },
		mistralBiasFlags: {
			...llamaGqa,
			model_type: "mistral",
			attention_bias: true,
			mlp_bias: true,
		},
		qwen2BiasFlags: {
			...llamaGqa,
			model_type: "qwen2",
			attention_bias: true,
			mlp_bias: true,
		},
		phi3BiasFlags: { ...phi3, attention_bias: true, mlp_bias: true },
	};
	for (const [name, config] of Object.entries(configs)) {
		it(`counts ${name} exactly as the tensors quantize expects`, () => {
			expect(countParameters(config).total).toBe(total(config));
		});
	}

	it("knows the same model types (qwen3, gemma and gemma2 used to be unknown to quantize)", () => {
		for (const t of [
			"llama",
			"mistral",
			"qwen2",
			"qwen3",
			"phi3",
			"gemma",
			"gemma2",
		])
			expect(parseHfConfig({ ...llamaGqa, model_type: t }, "c").layout).toBe(t);
	});

	it("defaults tie_word_embeddings per model type as transformers does (gemma: tied; llama: not)", () => {
		expect(parseHfConfig(gemmaTied, "c").tie_word_embeddings).toBe(true);
		expect(
			expectedTensors(parseHfConfig(gemmaTied, "c")).some(
				(t) => t.name === "lm_head.weight",
			),
		).toBe(false);
		const { tie_word_embeddings: _, ...llamaDefault } = llamaGqa;
		expect(parseHfConfig(llamaDefault, "c").tie_word_embeddings).toBe(false);
		expect(countParameters(llamaDefault).lmHead).toBe(128_000);
	});

	it("applies the bias flags only where the modeling code reads them", () => {
		const biases = (c: Record<string, unknown>) =>
			expectedTensors(parseHfConfig(c as never, "c"))
				.filter(
					(t) => t.name.startsWith("model.layers.0.") && t.role === "bias",
				)
				.map((t) => t.name.split(".").slice(3, 5).join("."));
		expect(biases(configs.llamaBiased)).toEqual([
			"self_attn.q_proj",
			"self_attn.k_proj",
			"self_attn.v_proj",
			"self_attn.o_proj",
			"mlp.gate_proj",
			"mlp.up_proj",
			"mlp.down_proj",
		]);
		expect(biases(configs.mistralBiasFlags)).toEqual([]); // Mistral's modeling code has bias=False everywhere
		expect(biases(configs.qwen2BiasFlags)).toEqual([
			"self_attn.q_proj",
			"self_attn.k_proj",
			"self_attn.v_proj",
		]); // always on q/k/v, never on o or the MLP
		expect(biases(llamaGqa as never)).toEqual([]);
		expect(biases(configs.phi3BiasFlags)).toEqual([]);
		expect(countParameters(configs.mistralBiasFlags).biases).toBe(0);
		expect(countParameters(configs.qwen2BiasFlags).biases).toBe(
			2 * (128 + 32 + 32),
		);
	});

	it("counts the q/k norms of qwen3 and the four norms of a gemma2 block", () => {
		expect(countParameters(configs.qwen3).norms).toBe(
			2 * (2 * 128 + 2 * 16) + 128,
		);
		expect(countParameters(configs.gemma2).norms).toBe(3 * 4 * 96 + 96);
	});

	it("throws the same error type from both (a FormatError naming the file and field)", () => {
		const bad = { ...llamaGqa, hidden_size: 0 };
		const a = (() => {
			try {
				countParameters(bad, "p/config.json");
			} catch (e) {
				return e;
			}
		})() as Error;
		const b = (() => {
			try {
				parseHfConfig(bad, "p/config.json");
			} catch (e) {
				return e;
			}
		})() as Error;
		expect(a).toBeInstanceOf(ModelFileError);
		expect(a.message).toBe(b.message);
	});
});

describe('weight memory', () => {
  it("gives the course's 2.21 GB for Phi-3-mini in NF4 + bf16 (get_memory_footprint)", () => {
    const nf4 = byFormat(phi3, 'nf4');
    expect(nf4.footprintBytes).toBe(3_623_878_656 / 2 + 197_200_896 * 2);
    expect((nf4.footprintBytes / 1e9).toFixed(2)).toBe('2.21');
    // true bytes add an f32 absmax per 64 weights and a 16-entry quant_map per tensor
    expect(nf4.trueBytes).toBe(nf4.footprintBytes + (3_623_878_656 / 64) * 4 + 128 * 64);
    expect(nf4.linearBitsPerParam).toBeCloseTo(4.5, 4); // 4.5 + the quant_map tables (1.8e-5 bit)
    expect(nf4.linearFootprintBitsPerParam).toBe(4);
  });

  it('counts double-quantized statistics for Phi-3-mini', () => {
    const dq = byFormat(phi3, 'nf4+dq');
    expect(dq.footprintBytes).toBe(byFormat(phi3, 'nf4').footprintBytes);
    // u8 absmax per block + f32 nested absmax per 256 blocks (6912 + 2304 + 12288 + 6144 bytes a layer)
    // + quant_map, nested_quant_map and offset (1092 bytes) per tensor
    expect(dq.linearStatsBytes).toBe(3_623_878_656 / 64 + 27_648 * 32 + 1092 * 128);
    expect(dq.linearBitsPerParam).toBeCloseTo(4.127, 3);
  });

  it("reproduces transformers' TinyLlama fp16/4-bit footprint ratio", () => {
    const tiny = findPreset('tinyllama')!.config;
    // get_memory_footprint also counts buffers: in the transformers version that produced the
    // constant, 23 rotary embeddings (22 layers + the model's) each held a 32-element f32 inv_freq.
    const buffers = 23 * 32 * 4;
    const fp16 = byFormat(tiny, 'bf16').footprintBytes + buffers;
    const nf4 = byFormat(tiny, 'nf4', { restDtype: 'fp16' }).footprintBytes + buffers;
    expect(fp16 / nf4).toBeCloseTo(2.9461410686392764, 12);
  });

  it('orders the formats and keeps fp32 at 32 bits per parameter', () => {
    const rows = weightMemory(llamaGqa);
    expect(rows.map((r) => r.format)).toEqual(['fp32', 'bf16', 'int8', 'nf4', 'nf4+dq']);
    expect(rows[0].trueBytes).toBe(602_752 * 4);
    expect(rows[0].linearBitsPerParam).toBe(32);
    for (let i = 1; i < rows.length; i++) expect(rows[i].trueBytes).toBeLessThan(rows[i - 1].trueBytes);
  });
});

describe('bits per parameter', () => {
  it('is 4.5 for NF4 bs64 and about 4.127 with double quantization', () => {
    expect(fourBitBitsPerParam(64, false)).toBe(4.5);
    expect(fourBitBitsPerParam(64, true)).toBe(4 + 8 / 64 + 32 / (64 * 256));
    expect(fourBitBitsPerParam(64, true)).toBeCloseTo(4.127, 3);
    expect(() => fourBitBitsPerParam(48, false)).toThrow(ConfigError);
  });

  it('counts one tensor: packed bytes, statistics, tables', () => {
    const t = fourBitTensorBytes(4096 * 4096, 64, true);
    expect(t).toEqual({ packed: 8_388_608, absmax: 262_144, nestedAbsmax: 4096, tables: 1092, total: 8_388_608 + 262_144 + 4096 + 1092 });
    expect(fourBitTensorBytes(65, 64, false)).toMatchObject({ packed: 33, absmax: 8, tables: 64 });
  });
});

describe('LoRA and training estimates', () => {
  it('counts trainable parameters on the attention projections (PEFT: 13,631,488 for Llama-3.1-8B r=16)', () => {
    expect(loraTrainableParameters(findPreset('llama-3.1-8b')!.config, { loraR: 16 })).toBe(13_631_488);
  });

  it('maps q/k/v to the fused qkv_proj of Phi-3 and accepts all-linear', () => {
    const r = memoryReport(phi3, { loraR: 16 });
    expect(r.options.targetModules).toEqual(['qkv_proj', 'o_proj']);
    expect(loraTrainableParameters(phi3, { loraR: 16 })).toBe(32 * 16 * (3072 + 9216 + 3072 + 3072));
    expect(loraTrainableParameters(phi3, { loraR: 8, targetModules: ['gate_proj', 'up_proj'] })).toBe(32 * 8 * (3072 + 16384));
    const all = memoryReport(phi3, { targetModules: 'all-linear' }).options.targetModules;
    expect(all).toEqual(['qkv_proj', 'o_proj', 'gate_up_proj', 'down_proj']);
    expect(() => loraTrainableParameters(phi3, { targetModules: ['lm_head'] })).toThrow(/lm_head/);
  });

  it('adds weights, gradients and optimizer states', () => {
    const r = memoryReport(llamaGqa, { loraR: 4 });
    const P = 602_752;
    const byName = Object.fromEntries(r.training.map((t) => [t.name, t]));
    expect(byName['full-fp32'].totalBytes).toBe(16 * P);
    expect(byName['full-mixed-bf16'].totalBytes).toBe(16 * P);
    const lora = 2 * (4 * (128 + 128) + 2 * 4 * (128 + 32) + 4 * (128 + 128));
    expect(byName.lora.trainableParameters).toBe(lora);
    expect(byName.lora.totalBytes).toBe(2 * P + 16 * lora);
    const dq = r.weights.find((w) => w.format === 'nf4+dq')!;
    expect(byName.qlora.totalBytes).toBe(dq.trueBytes + 16 * lora);
    for (const t of r.training) expect(t.assumptions.length).toBeGreaterThan(0);
  });

  it('embeds presets that all parse', () => {
    for (const p of MODEL_PRESETS) expect(countParameters(p.config).total).toBeGreaterThan(1e8);
    expect(findPreset('microsoft/Phi-3-mini-4k-instruct')?.name).toBe('phi-3-mini-4k-instruct');
    expect(findPreset('nope')).toBeUndefined();
  });
});
