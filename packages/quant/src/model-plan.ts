/**
 * What `kvant quantize` will do to each tensor of a model folder, decided before any work: the
 * folder must be the layout its config.json describes (every expected tensor present, with the
 * expected shape and a float dtype), so the output really is the 4-bit model its
 * `quantization_config` claims. Tensors kept in full precision are listed with the reason.
 */
import { ConfigError, TensorError } from '@kvant/abi';
import { expectedTensors, type HfModelFolder, isDecoderLinearWeight, MODEL_LAYOUTS, ModelFileError } from '@kvant/formats';
import { join } from 'node:path';

/** A tensor copied as stored, and why. */
export interface KeptTensor {
  readonly name: string;
  readonly reason: string;
}

/** The decisions for one folder. */
export interface QuantizationPlan {
  /** Linear weights that become bitsandbytes 4-bit tensors, in folder order. */
  readonly quantize: readonly string[];
  /** Tensors copied as stored, each with its reason (embeddings, norms, biases, lm_head, --skip-modules, extras). */
  readonly kept: readonly KeptTensor[];
  /** `llm_int8_skip_modules` for quantization_config: null when no linear is deliberately kept. */
  readonly skipModules: string[] | null;
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16']);

/** True when module `name` (e.g. `model.layers.0.mlp.down_proj`) matches a skip entry: its whole dotted segments, anywhere. */
export function matchesSkipModule(name: string, skip: string): boolean {
  const n = name.split('.');
  const s = skip.split('.');
  for (let i = 0; i + s.length <= n.length; i++) if (s.every((seg, j) => n[i + j] === seg)) return true;
  return false;
}

/**
 * Check `model` against its config and decide what to quantize. `skipModules` are module names
 * (transformers' `llm_int8_skip_modules`) whose linear weights are kept in full precision.
 * Throws a typed error naming config.json, the weights file and the tensor for anything that
 * would make the output not the 4-bit model its config says.
 */
export function planModelQuantization(model: HfModelFolder, skipModules: readonly string[] = []): QuantizationPlan {
  const configPath = join(model.dir, 'config.json');
  const config = model.config;
  if (config.has_quantization_config) {
    throw new ModelFileError(configPath, 'no "quantization_config" (a model that is not quantized yet)', `"quantization_config": ${JSON.stringify(config.raw.quantization_config)}`);
  }
  if (config.layout === undefined) {
    throw new ModelFileError(configPath, `"model_type" one of ${MODEL_LAYOUTS.join(', ')} (the layouts kvant can check)`, JSON.stringify(config.model_type));
  }
  const weightsFile = model.weights.path;
  const where = (name: string) => `${weightsFile}: tensor "${name}"`;
  const expected = expectedTensors(config);
  const expectedByName = new Map(expected.map((t) => [t.name, t]));
  const present = new Map(model.tensors().map((t) => [t.name, t]));
  const layoutName = `the ${config.layout} layout of ${configPath} (${config.num_hidden_layers} layers, hidden_size ${config.hidden_size})`;
  for (const e of expected) {
    const t = present.get(e.name);
    if (!t) throw new TensorError(where(e.name), `the tensor, shape [${e.shape.join(', ')}] (${layoutName})`, 'no such tensor in the folder');
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      throw new TensorError(where(e.name), `shape [${e.shape.join(', ')}] (${layoutName})`, `shape [${t.shape.join(', ')}]`);
    }
    if (!FLOAT_DTYPES.has(t.dtype)) throw new TensorError(where(e.name), 'dtype F32, F16 or BF16 (the weights of a decoder)', `dtype ${t.dtype}`);
  }
  for (const skip of skipModules) {
    if (!expected.some((e) => e.role === 'linear' && matchesSkipModule(e.name.slice(0, -'.weight'.length), skip)) && skip !== 'lm_head') {
      throw new ConfigError('--skip-modules', `module names of ${layoutName}, e.g. "down_proj" or "model.layers.0.mlp"`, `${JSON.stringify(skip)}, which matches no linear layer`);
    }
  }
  const quantize: string[] = [];
  const kept: KeptTensor[] = [];
  const skippedModules = new Set<string>();
  for (const t of present.values()) {
    const e = expectedByName.get(t.name);
    if (e?.role === 'linear') {
      const module = t.name.slice(0, -'.weight'.length);
      const skip = skipModules.find((s) => matchesSkipModule(module, s));
      if (skip !== undefined) {
        kept.push({ name: t.name, reason: `--skip-modules ${skip}` });
        skippedModules.add(skip);
      } else quantize.push(t.name);
    } else if (e) {
      kept.push({ name: t.name, reason: e.role === 'lm_head' ? 'lm_head (kept in full precision, as transformers does)' : e.role });
    } else if (isDecoderLinearWeight(t.name)) {
      throw new TensorError(where(t.name), `only the linear weights of ${layoutName}`, 'a linear weight that config.json does not describe');
    } else {
      kept.push({ name: t.name, reason: `not part of the ${config.layout} layout (copied as stored; transformers ignores it)` });
    }
  }
  // A tensor named like a statistic of a weight kvant writes would collide with it in the output.
  for (const w of quantize) {
    for (const name of present.keys()) {
      if (name.startsWith(`${w}.`)) throw new TensorError(where(name), `no tensor named under "${w}." (kvant writes the 4-bit statistics of ${w} there)`, 'a tensor with such a name');
    }
  }
  const skipList = skippedModules.size ? [...new Set([...skipModules, 'lm_head'])] : null;
  return { quantize, kept, skipModules: skipList };
}
