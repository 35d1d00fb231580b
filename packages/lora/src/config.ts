/**
 * `LoraConfig`: PEFT's field names and defaults (peft `tuners/lora/config.py`), validated with
 * errors that quote the bad value and say what was expected. Field names are snake_case on purpose:
 * they are the keys of `adapter_config.json`, and what a PEFT user already types.
 */
import { ConfigError } from '@kvant/abi';

/** A list of module names (matched exactly or as a `.`-suffix), a regex (full match), or "all-linear". */
export type TargetModules = readonly string[] | string;

export type LoraBias = 'none' | 'all' | 'lora_only';
export type InitLoraWeights = boolean | 'gaussian';

/** The LoRA options of PEFT's LoraConfig that kvant implements. Every field is optional; defaults are PEFT's. */
export interface LoraConfig {
  /** Rank R of A [R, K] and B [N, R]. Default 8. */
  readonly r?: number;
  /** alpha of the scaling alpha/r (alpha/sqrt(r) with rsLoRA). Default 8, so the default scaling is 1. */
  readonly lora_alpha?: number;
  /** Drop probability of the dropout on the LoRA branch's input (the base sees x undropped), in [0, 1). Default 0. */
  readonly lora_dropout?: number;
  /**
   * Modules to adapt: a list (a module matches when its name equals an entry or ends with "." + entry),
   * a regex string (must match the whole module name), or "all-linear" (every linear layer except the
   * output head). Default null: the architecture's default (DEFAULT_TARGET_MODULES).
   */
  readonly target_modules?: TargetModules | null;
  /** Modules never adapted, matched like target_modules (list or regex). Default null. */
  readonly exclude_modules?: TargetModules | null;
  /** Scaling alpha/sqrt(r) instead of alpha/r (rank-stabilized LoRA). Default false. */
  readonly use_rslora?: boolean;
  /** DoRA: a trainable magnitude per output feature over the normalized W + s·B·A. Default false. */
  readonly use_dora?: boolean;
  /** Which biases train: none, all (every bias of the model), lora_only (biases of adapted modules). Default none. */
  readonly bias?: LoraBias;
  /** true: A kaiming-uniform, B zero; "gaussian": A ~ N(0, 1/r²), B zero; false: A and B both nn.Linear's default init (not a no-op). Default true. */
  readonly init_lora_weights?: InitLoraWeights;
  /** Rank per module, keyed by a regex matched against the end of the module name (PEFT's get_pattern_key). Default {}. */
  readonly rank_pattern?: Readonly<Record<string, number>>;
  /** lora_alpha per module, keyed like rank_pattern. Default {}. */
  readonly alpha_pattern?: Readonly<Record<string, number>>;
  /** Modules trained in full and saved in the adapter (e.g. ["lm_head"]); never targeted by LoRA. Default null. */
  readonly modules_to_save?: readonly string[] | null;
  /** Weights stored [in, out] (GPT-2 Conv1D). kvant's linear weights are [out, in], so only false is accepted. Default false. */
  readonly fan_in_fan_out?: boolean;
  /** PEFT's task type, recorded in adapter_config.json (e.g. "CAUSAL_LM"). Default null. */
  readonly task_type?: string | null;
  /** The base model the adapter belongs to, recorded in adapter_config.json. Default null. */
  readonly base_model_name_or_path?: string | null;
}

/** A LoraConfig with every default filled in and every field checked. */
export interface ResolvedLoraConfig {
  readonly r: number;
  readonly lora_alpha: number;
  readonly lora_dropout: number;
  readonly target_modules: TargetModules | null;
  readonly exclude_modules: TargetModules | null;
  readonly use_rslora: boolean;
  readonly use_dora: boolean;
  readonly bias: LoraBias;
  readonly init_lora_weights: InitLoraWeights;
  readonly rank_pattern: Readonly<Record<string, number>>;
  readonly alpha_pattern: Readonly<Record<string, number>>;
  readonly modules_to_save: readonly string[] | null;
  readonly fan_in_fan_out: false;
  readonly task_type: string | null;
  readonly base_model_name_or_path: string | null;
}

/** PEFT's defaults (LoraConfig in peft 0.13 through 0.21). */
export const LORA_DEFAULTS: ResolvedLoraConfig = Object.freeze({
  r: 8,
  lora_alpha: 8,
  lora_dropout: 0,
  target_modules: null,
  exclude_modules: null,
  use_rslora: false,
  use_dora: false,
  bias: 'none',
  init_lora_weights: true,
  rank_pattern: {},
  alpha_pattern: {},
  modules_to_save: null,
  fan_in_fan_out: false,
  task_type: null,
  base_model_name_or_path: null,
});

/**
 * Default targets when target_modules is null, by `model_type` (PEFT's
 * TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING for llama, mistral and qwen2). PEFT has no
 * entry for phi3 and refuses; kvant adapts Phi-3's fused `qkv_proj`, the module that holds q and v,
 * and writes the resolved list into adapter_config.json so PEFT loads it.
 */
export const DEFAULT_TARGET_MODULES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  llama: ['q_proj', 'v_proj'],
  mistral: ['q_proj', 'v_proj'],
  qwen2: ['q_proj', 'v_proj'],
  phi3: ['qkv_proj'],
});

/** "all-linear", case-insensitive, as PEFT's INCLUDE_LINEAR_LAYERS_SHORTHAND. */
export function isAllLinear(t: TargetModules | null): t is string {
  return typeof t === 'string' && t.toLowerCase() === 'all-linear';
}

const KNOWN_FIELDS = new Set(Object.keys(LORA_DEFAULTS));
const show = (v: unknown) => (v === undefined ? 'undefined' : typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v));

/** Compile a PEFT regex (a Python `re` pattern) as a JavaScript one; `where` names the field in errors. */
export function compilePattern(pattern: string, where: string, anchor: 'full' | 'suffix'): RegExp {
  if (/\(\?P[<=]/.test(pattern)) throw new ConfigError(where, 'a regex without Python-only syntax ((?P<name>…) is written (?<name>…) here)', JSON.stringify(pattern));
  try {
    return anchor === 'full' ? new RegExp(`^(?:${pattern})$`) : new RegExp(`^(?:.*\\.)?(?:${pattern})$`);
  } catch (e) {
    throw new ConfigError(where, 'a valid regular expression', `${JSON.stringify(pattern)} (${(e as Error).message})`);
  }
}

function targetSpec(v: unknown, where: string): TargetModules | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') {
    if (v === '') throw new ConfigError(where, 'a non-empty regex, "all-linear" or a list of module names', '""');
    if (!isAllLinear(v)) compilePattern(v, where, 'full');
    return v;
  }
  if (Array.isArray(v)) {
    if (v.length === 0) throw new ConfigError(where, 'a non-empty list of module names (or null for the default)', '[]');
    v.forEach((e, i) => {
      if (typeof e !== 'string' || e === '') throw new ConfigError(`${where}[${i}]`, 'a non-empty module name', show(e));
    });
    return [...new Set(v as string[])];
  }
  throw new ConfigError(where, 'a list of module names, a regex string, "all-linear" or null', show(v));
}

function patternMap(v: unknown, where: string, integer: boolean): Readonly<Record<string, number>> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(where, 'an object of pattern → value', show(v));
  const out: Record<string, number> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    compilePattern(k, `${where} key ${JSON.stringify(k)}`, 'suffix');
    const ok = typeof val === 'number' && Number.isFinite(val) && val > 0 && (!integer || Number.isInteger(val));
    if (!ok) throw new ConfigError(`${where}[${JSON.stringify(k)}]`, integer ? 'a positive integer rank' : 'a positive finite number', show(val));
    out[k] = val as number;
  }
  return out;
}

function bool(v: unknown, fallback: boolean, where: string): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new ConfigError(where, 'true or false', show(v));
  return v;
}

function nullableString(v: unknown, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new ConfigError(where, 'a string or null', show(v));
  return v;
}

/** Fill PEFT's defaults and check every field; throws ConfigError naming the field, the value and the expectation. */
export function resolveLoraConfig(c: LoraConfig = {}, where = 'LoraConfig'): ResolvedLoraConfig {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new ConfigError(where, 'an object of LoraConfig fields', show(c));
  for (const key of Object.keys(c)) {
    if (!KNOWN_FIELDS.has(key)) throw new ConfigError(`${where}.${key}`, `one of the fields ${[...KNOWN_FIELDS].join(', ')}`, 'an unknown field');
  }
  const r = c.r ?? LORA_DEFAULTS.r;
  if (!(typeof r === 'number' && Number.isInteger(r) && r > 0)) throw new ConfigError(`${where}.r`, 'a positive integer rank', show(r));
  const alpha = c.lora_alpha ?? LORA_DEFAULTS.lora_alpha;
  if (!(typeof alpha === 'number' && Number.isFinite(alpha) && alpha > 0)) throw new ConfigError(`${where}.lora_alpha`, 'a positive finite number', show(alpha));
  const dropout = c.lora_dropout ?? 0;
  if (!(typeof dropout === 'number' && dropout >= 0 && dropout < 1)) throw new ConfigError(`${where}.lora_dropout`, 'a probability in [0, 1)', show(dropout));
  const bias = c.bias ?? 'none';
  if (!['none', 'all', 'lora_only'].includes(bias as string)) throw new ConfigError(`${where}.bias`, '"none", "all" or "lora_only"', show(bias));
  const init = c.init_lora_weights ?? true;
  if (!(init === true || init === false || init === 'gaussian')) {
    throw new ConfigError(
      `${where}.init_lora_weights`,
      'true, false or "gaussian" (pissa, olora, loftq, eva, corda and the other data-driven inits rewrite the base weight and are not implemented)',
      show(init),
    );
  }
  if (c.fan_in_fan_out !== undefined && c.fan_in_fan_out !== false) {
    throw new ConfigError(`${where}.fan_in_fan_out`, 'false (kvant stores linear weights [out_features, in_features], as nn.Linear)', show(c.fan_in_fan_out));
  }
  let modulesToSave: string[] | null = null;
  if (c.modules_to_save !== undefined && c.modules_to_save !== null) {
    if (!Array.isArray(c.modules_to_save)) throw new ConfigError(`${where}.modules_to_save`, 'a list of module names or null', show(c.modules_to_save));
    c.modules_to_save.forEach((m, i) => {
      if (typeof m !== 'string' || m === '') throw new ConfigError(`${where}.modules_to_save[${i}]`, 'a non-empty module name', show(m));
    });
    modulesToSave = [...new Set(c.modules_to_save)];
  }
  return Object.freeze({
    r,
    lora_alpha: alpha,
    lora_dropout: dropout,
    target_modules: targetSpec(c.target_modules, `${where}.target_modules`),
    exclude_modules: targetSpec(c.exclude_modules, `${where}.exclude_modules`),
    use_rslora: bool(c.use_rslora, false, `${where}.use_rslora`),
    use_dora: bool(c.use_dora, false, `${where}.use_dora`),
    bias: bias as LoraBias,
    init_lora_weights: init,
    rank_pattern: patternMap(c.rank_pattern, `${where}.rank_pattern`, true),
    alpha_pattern: patternMap(c.alpha_pattern, `${where}.alpha_pattern`, false),
    modules_to_save: modulesToSave,
    fan_in_fan_out: false,
    task_type: nullableString(c.task_type, `${where}.task_type`),
    base_model_name_or_path: nullableString(c.base_model_name_or_path, `${where}.base_model_name_or_path`),
  });
}
