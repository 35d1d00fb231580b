/**
 * PEFT adapter folders, read and written: `adapter_config.json` and `adapter_model.safetensors`
 * (PeftModel.save_pretrained / PeftModel.from_pretrained).
 *
 * Keys (PEFT removes the adapter name when saving):
 *   base_model.model.<module>.lora_A.weight          [R, K]
 *   base_model.model.<module>.lora_B.weight          [N, R]
 *   base_model.model.<module>.lora_magnitude_vector  [N]     (DoRA; no .weight suffix)
 *   base_model.model.<module>.base_layer.bias        [N]     (bias lora_only / all, adapted modules)
 *   base_model.model.<module>.bias                   [N]     (bias all, other modules)
 *   base_model.model.<module>.<param>                        (modules_to_save copies, e.g. lm_head.weight)
 * Tensors are written F32 with metadata {"format": "pt"}; F32, BF16 and F16 are read (TRL saves QLoRA
 * adapters in bf16).
 *
 * An adapter is data: loading reads exactly these two regular files (never adapter_model.bin, a
 * pickle), parses JSON strictly (a repeated key is an error), runs nothing named in it, and matches
 * every tensor to a module of the base with the right shape, dtype and finite values. Saving writes
 * into one folder atomically through @kvant/formats' writeDirAtomic (never a half-written folder; an
 * existing one is replaced only with `force`, and never when it is or contains an input).
 */
import { join } from 'node:path';
import { ConfigError, KvantError } from '@kvant/abi';
import {
  isJsonObject,
  type JsonValue,
  parseStrictJson,
  pathExists,
  readRegularFile,
  SafetensorsFile,
  type SafetensorsTensor,
  toFloat32,
  type TensorToWrite,
  writeDirAtomic,
  writeFileAtomic,
  writeSafetensors,
} from '@kvant/formats';
import { PyFloat, type PyValue, pythonJsonDumps } from '@kvant/quant';
import { isAllLinear, type LoraConfig } from './config';
import { AdapterFileError } from './errors';
import type { AdapterConfig, LoraModel } from './model';
import { rankAndAlpha } from './targets';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
/** The prefix PEFT's PeftModel + LoraModel put before a module path. */
export const PEFT_PREFIX = 'base_model.model.';

/** One tensor an adapter of this config has on this base. */
interface ExpectedTensor {
  readonly key: string;
  readonly shape: readonly number[];
  readonly module: string;
  readonly role: 'lora_A' | 'lora_B' | 'magnitude' | 'bias' | 'saved';
}

/** The tensors adapter `name` has, with their shapes, as PEFT names them in adapter_model.safetensors. */
function expectedTensors(model: LoraModel, c: AdapterConfig, name: string | undefined): ExpectedTensor[] {
  const out: ExpectedTensor[] = [];
  const targets = new Set(c.targets);
  for (const module of c.targets) {
    const lin = model.baseModel.linears.find((l) => l.name === module)!;
    const { r } = rankAndAlpha(c, module);
    const [n, k] = [lin.base.outFeatures, lin.base.inFeatures];
    const p = `${PEFT_PREFIX}${module}`;
    out.push({ key: `${p}.lora_A.weight`, shape: [r, k], module, role: 'lora_A' });
    out.push({ key: `${p}.lora_B.weight`, shape: [n, r], module, role: 'lora_B' });
    if (c.use_dora) out.push({ key: `${p}.lora_magnitude_vector`, shape: [n], module, role: 'magnitude' });
    if (c.bias !== 'none' && lin.bias) out.push({ key: `${p}.base_layer.bias`, shape: [n], module, role: 'bias' });
  }
  if (c.bias === 'all') {
    for (const lin of model.baseModel.linears) {
      if (!targets.has(lin.name) && lin.bias) out.push({ key: `${PEFT_PREFIX}${lin.name}.bias`, shape: [lin.base.outFeatures], module: lin.name, role: 'bias' });
    }
    for (const [pname, t] of Object.entries(model.baseModel.otherParameters ?? {})) {
      if (pname.endsWith('.bias')) out.push({ key: `${PEFT_PREFIX}${pname}`, shape: t.shape, module: pname.slice(0, -5), role: 'bias' });
    }
  }
  const copies = name === undefined ? undefined : model.modulesToSave.get(name);
  if (copies) for (const [pname, t] of copies) out.push({ key: `${PEFT_PREFIX}${pname}`, shape: t.shape, module: pname.slice(0, pname.lastIndexOf('.')), role: 'saved' });
  return out;
}

/** adapter_config.json as PEFT writes it: every LoRA field PEFT needs, keys sorted, indent 2. */
export function adapterConfigJson(c: AdapterConfig, baseModelNameOrPath: string | null): string {
  const targetModules: PyValue = isAllLinear(c.targetSpec) ? [...c.targets] : typeof c.targetSpec === 'string' ? c.targetSpec : [...c.targetSpec];
  const fields: Record<string, PyValue> = {
    alpha_pattern: { ...c.alpha_pattern },
    auto_mapping: null,
    base_model_name_or_path: c.base_model_name_or_path ?? baseModelNameOrPath,
    bias: c.bias,
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: c.exclude_modules === null ? null : typeof c.exclude_modules === 'string' ? c.exclude_modules : [...c.exclude_modules],
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: c.init_lora_weights,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: Number.isInteger(c.lora_alpha) ? c.lora_alpha : new PyFloat(c.lora_alpha),
    lora_bias: false,
    lora_dropout: new PyFloat(c.lora_dropout),
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: c.modules_to_save === null ? null : [...c.modules_to_save],
    peft_type: 'LORA',
    qalora_group_size: 16,
    r: c.r,
    rank_pattern: { ...c.rank_pattern },
    revision: null,
    target_modules: targetModules,
    target_parameters: null,
    task_type: c.task_type,
    trainable_token_indices: null,
    use_dora: c.use_dora,
    use_qalora: false,
    use_rslora: c.use_rslora,
  };
  const sorted = Object.fromEntries(Object.keys(fields).sort().map((k) => [k, fields[k]]));
  return `${pythonJsonDumps(sorted, 2)}\n`;
}

export interface SaveAdapterOptions {
  /** The adapter to save (default: the active one). */
  readonly adapterName?: string;
  /** Replace an existing folder (atomically, at the end). */
  readonly force?: boolean;
  /** Paths read to make this adapter (the base model folder): the output may not overlap them. */
  readonly inputs?: readonly string[];
}

/** PEFT's save_pretrained for one adapter: `dir` gets adapter_config.json and adapter_model.safetensors, atomically. */
export async function saveAdapter(model: LoraModel, dir: string, options: SaveAdapterOptions = {}): Promise<void> {
  await writeDirAtomic(dir, (tmp) => writeAdapterFiles(model, tmp, options), { force: options.force, inputs: options.inputs });
}

/**
 * The two files of saveAdapter, written into an existing folder (each file atomically): for a
 * folder that holds more than the adapter, such as a trainer checkpoint built under its own
 * temporary name.
 */
export async function writeAdapterFiles(model: LoraModel, dir: string, options: Pick<SaveAdapterOptions, 'adapterName'> = {}): Promise<void> {
  const name = options.adapterName ?? model.activeAdapter;
  const c = model.config(name);
  const tensors: [string, TensorToWrite][] = [];
  for (const e of expectedTensors(model, c, name)) {
    const t = tensorOf(model, name, e);
    const bytes = await t.runtime.read(t);
    const size = e.shape.reduce((a, b) => a * b, 1);
    tensors.push([e.key, { dtype: 'F32', shape: e.shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, size).slice() }]);
  }
  await writeFileAtomic(join(dir, ADAPTER_CONFIG_NAME), adapterConfigJson(c, model.baseModel.nameOrPath ?? null));
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS_NAME), tensors, { metadata: { format: 'pt' } });
}

function tensorOf(model: LoraModel, name: string, e: ExpectedTensor) {
  if (e.role === 'saved') return model.modulesToSave.get(name)!.get(e.key.slice(PEFT_PREFIX.length))!;
  if (e.role === 'bias') {
    const lin = model.baseModel.linears.find((l) => l.name === e.module);
    if (lin?.bias) return lin.bias;
    return model.baseModel.otherParameters![e.key.slice(PEFT_PREFIX.length)];
  }
  const a = model.layer(e.module).adapter(name);
  return e.role === 'lora_A' ? a.A : e.role === 'lora_B' ? a.B : a.magnitude!;
}

/** Fields of adapter_config.json kvant does not implement: each must be absent or hold its "off" value. */
const UNSUPPORTED_FIELDS: Readonly<Record<string, (v: JsonValue) => boolean>> = {
  lora_bias: (v) => v === false,
  use_qalora: (v) => v === false,
  layers_to_transform: (v) => v === null || (Array.isArray(v) && v.length === 0),
  layers_pattern: (v) => v === null || v === '' || (Array.isArray(v) && v.length === 0),
  layer_replication: (v) => v === null,
  target_parameters: (v) => v === null || (Array.isArray(v) && v.length === 0),
  trainable_token_indices: (v) => v === null,
  alora_invocation_tokens: (v) => v === null,
  use_bdlora: (v) => v === null || v === false,
  arrow_config: (v) => v === null,
  megatron_config: (v) => v === null,
};

/** The LoRA fields kvant reads from adapter_config.json (others are ignored, as PEFT ignores unknown keys). */
const READ_FIELDS = [
  'r',
  'lora_alpha',
  'lora_dropout',
  'target_modules',
  'exclude_modules',
  'use_rslora',
  'use_dora',
  'bias',
  'init_lora_weights',
  'rank_pattern',
  'alpha_pattern',
  'modules_to_save',
  'fan_in_fan_out',
  'task_type',
  'base_model_name_or_path',
] as const;

/** Parse and check adapter_config.json text: a LoRA config, with every field kvant relies on typed. */
export function parseAdapterConfig(text: string, file = ADAPTER_CONFIG_NAME): LoraConfig {
  let json: JsonValue;
  try {
    json = parseStrictJson(text);
  } catch (e) {
    throw new AdapterFileError('config', file, undefined, 'strict JSON (no repeated keys)', (e as Error).message);
  }
  if (!isJsonObject(json)) throw new AdapterFileError('config', file, undefined, 'a JSON object', Array.isArray(json) ? 'an array' : JSON.stringify(json));
  if (json.peft_type !== 'LORA') throw new AdapterFileError('config', file, 'peft_type', '"LORA"', JSON.stringify(json.peft_type ?? null));
  for (const [field, ok] of Object.entries(UNSUPPORTED_FIELDS)) {
    if (field in json && !ok(json[field])) throw new AdapterFileError('config', file, field, 'its default (kvant does not implement this option)', JSON.stringify(json[field]));
  }
  if (!('r' in json)) throw new AdapterFileError('config', file, 'r', 'the rank r', 'no such field');
  const config: Record<string, unknown> = {};
  for (const f of READ_FIELDS) if (f in json) config[f] = json[f];
  // PEFT writes these as null when unset; kvant's LoraConfig takes null too.
  for (const f of ['rank_pattern', 'alpha_pattern'] as const) if (config[f] === null) delete config[f];
  return config as LoraConfig;
}

export interface LoadAdapterOptions {
  /** Name of the adapter in the model (default "default"). */
  readonly adapterName?: string;
  /** PEFT's is_trainable: load the adapter for training (default false: frozen, as from_pretrained). */
  readonly isTrainable?: boolean;
}

/**
 * PEFT's PeftModel.from_pretrained / load_adapter for a local folder: read and check it strictly,
 * then add the adapter to `model`. Every refusal is an AdapterFileError (or ConfigError for a bad
 * config field) naming the tensor or field.
 */
export async function loadAdapter(dir: string, model: LoraModel, options: LoadAdapterOptions = {}): Promise<AdapterConfig> {
  const name = options.adapterName ?? 'default';
  const configPath = join(dir, ADAPTER_CONFIG_NAME);
  const weightsPath = join(dir, ADAPTER_WEIGHTS_NAME);
  if (!(await pathExists(weightsPath)) && (await pathExists(join(dir, 'adapter_model.bin')))) {
    throw new AdapterFileError('pickle', join(dir, 'adapter_model.bin'), undefined, `${ADAPTER_WEIGHTS_NAME} (kvant never loads pickles, which can run code; convert with safetensors)`, 'only adapter_model.bin');
  }
  let text: string;
  try {
    text = (await readRegularFile(configPath, 'an adapter_config.json (a regular file)')).toString('utf8');
  } catch (e) {
    if (e instanceof KvantError) throw new AdapterFileError('folder', configPath, undefined, 'a readable adapter_config.json', e.message);
    throw e;
  }
  const raw = parseAdapterConfig(text, configPath);
  let c: AdapterConfig;
  try {
    c = model.resolve(raw, ADAPTER_CONFIG_NAME);
  } catch (e) {
    if (e instanceof ConfigError) throw new AdapterFileError('config', configPath, e.where, e.expected, e.found);
    throw e;
  }
  const expected = expectedTensors(model, c, undefined);
  // modules_to_save copies are expected by name prefix: their shapes come from the base.
  const savedShapes = new Map<string, readonly number[]>();
  for (const m of c.modules_to_save ?? []) {
    for (const lin of model.baseModel.linears) {
      if (lin.name === m || lin.name.endsWith(`.${m}`)) {
        savedShapes.set(`${PEFT_PREFIX}${lin.name}.weight`, [lin.base.outFeatures, lin.base.inFeatures]);
        if (lin.bias) savedShapes.set(`${PEFT_PREFIX}${lin.name}.bias`, lin.bias.shape);
      }
    }
    for (const [pname, t] of Object.entries(model.baseModel.otherParameters ?? {})) {
      const module = pname.slice(0, pname.lastIndexOf('.'));
      if (module === m || module.endsWith(`.${m}`)) savedShapes.set(`${PEFT_PREFIX}${pname}`, t.shape);
    }
  }
  let file: SafetensorsFile;
  try {
    file = await SafetensorsFile.open(weightsPath);
  } catch (e) {
    if (e instanceof KvantError && !(e instanceof AdapterFileError) && /no such file|ENOENT|not a regular|missing/i.test(e.message)) {
      throw new AdapterFileError('folder', weightsPath, undefined, `a readable ${ADAPTER_WEIGHTS_NAME}`, e.message);
    }
    throw e;
  }
  const values = new Map<string, Float32Array>();
  try {
    const byKey = new Map(expected.map((e) => [e.key, e]));
    for (const key of file.names()) {
      if (!byKey.has(key) && !savedShapes.has(key)) throw unexpected(model, c, weightsPath, key);
    }
    const all: { key: string; shape: readonly number[]; e?: ExpectedTensor }[] = [
      ...expected.map((e) => ({ key: e.key, shape: e.shape, e })),
      ...[...savedShapes].map(([key, shape]) => ({ key, shape })),
    ];
    for (const { key, shape, e } of all) {
      if (!file.has(key)) {
        throw new AdapterFileError('missing-tensor', weightsPath, key, `a tensor ${shapeText(shape)} (the config's ${e ? `target ${e.module}` : 'modules_to_save'} needs it)`, 'no such tensor');
      }
      const t = await file.read(key);
      checkTensor(t, key, shape, e, c, weightsPath);
      values.set(key, toFloat32(t, key));
      const bad = values.get(key)!.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new AdapterFileError('non-finite', weightsPath, key, 'finite values', `${values.get(key)![bad]} at element ${bad}`);
    }
  } finally {
    await file.close();
  }
  const at = (module: string, suffix: string) => values.get(`${PEFT_PREFIX}${module}.${suffix}`);
  model.isTrainable.set(name, options.isTrainable ?? false);
  const added = await model.addAdapter(name, raw, {
    trainable: options.isTrainable ?? false,
    weights: (module) => ({ A: at(module, 'lora_A.weight')!, B: at(module, 'lora_B.weight')!, magnitude: c.use_dora ? at(module, 'lora_magnitude_vector') : undefined }),
  });
  // Saved copies and biases: the values of the file replace the copies made from the base.
  const copies = model.modulesToSave.get(name)!;
  for (const [pname, t] of copies) {
    const v = values.get(`${PEFT_PREFIX}${pname}`);
    if (v) model.runtime.write(t, v);
  }
  for (const e of expected) {
    if (e.role !== 'bias') continue;
    const lin = model.baseModel.linears.find((l) => l.name === e.module);
    const target = lin?.bias ?? model.baseModel.otherParameters?.[e.key.slice(PEFT_PREFIX.length)];
    if (target) model.runtime.write(target, values.get(e.key)!);
  }
  return added;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function checkTensor(t: SafetensorsTensor, key: string, shape: readonly number[], e: ExpectedTensor | undefined, c: AdapterConfig, file: string): void {
  if (!['F32', 'BF16', 'F16'].includes(t.dtype)) throw new AdapterFileError('dtype', file, key, 'dtype F32, BF16 or F16', `dtype ${t.dtype}`);
  const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (same) return;
  if (e && (e.role === 'lora_A' || e.role === 'lora_B') && t.shape.length === 2) {
    const [rankAxis, otherAxis] = e.role === 'lora_A' ? [0, 1] : [1, 0];
    if (t.shape[otherAxis] === shape[otherAxis] && t.shape[rankAxis] !== shape[rankAxis]) {
      const fromPattern = Object.keys(c.rank_pattern).length > 0 ? ' (after rank_pattern)' : '';
      throw new AdapterFileError('rank', file, key, `rank ${shape[rankAxis]} as adapter_config.json says (r = ${c.r}${fromPattern}), shape ${shapeText(shape)}`, `rank ${t.shape[rankAxis]}, shape ${shapeText(t.shape)}`);
    }
  }
  throw new AdapterFileError('shape', file, key, `shape ${shapeText(shape)} (the base module's [out_features, in_features] is what it follows)`, `shape ${shapeText(t.shape)}`);
}

function unexpected(model: LoraModel, c: AdapterConfig, file: string, key: string): AdapterFileError {
  const m = /^base_model\.model\.(.+)\.(lora_A\.weight|lora_B\.weight|lora_magnitude_vector|lora_embedding_A|lora_embedding_B|lora_B\.bias)$/.exec(key);
  if (m) {
    const module = m[1];
    if (!model.linearModules.includes(module)) {
      return new AdapterFileError('unexpected-tensor', file, key, 'tensors of linear modules of the base', `a tensor of ${JSON.stringify(module)}, which the base does not have`);
    }
    if (!c.targets.includes(module)) {
      return new AdapterFileError('unexpected-tensor', file, key, `tensors of the modules target_modules selects (${c.targets.length} modules)`, `a tensor of ${JSON.stringify(module)}, which the config does not target`);
    }
    if (m[2] === 'lora_magnitude_vector') return new AdapterFileError('unexpected-tensor', file, key, 'no DoRA magnitude (use_dora is false)', 'lora_magnitude_vector');
  }
  if (!key.startsWith(PEFT_PREFIX)) return new AdapterFileError('unexpected-tensor', file, key, `keys starting with ${JSON.stringify(PEFT_PREFIX)} (PEFT's layout)`, JSON.stringify(key));
  return new AdapterFileError('unexpected-tensor', file, key, 'only tensors of this LoRA config (lora_A, lora_B, DoRA magnitudes, biases, modules_to_save)', 'a tensor it does not explain');
}
