/**
 * Which modules an adapter adapts, with PEFT's matching rules (`check_target_module_exists`,
 * `_maybe_include_all_linear_layers`, `get_pattern_key`):
 * - a list entry matches a module whose name equals it or ends with "." + entry;
 * - a string is a regex that must match the whole module name (a JavaScript RegExp here; Python-only
 *   syntax is refused with a message);
 * - "all-linear" is every linear module except the output head (lm_head);
 * - modules in modules_to_save and exclude_modules are never adapted;
 * - rank_pattern / alpha_pattern keys are regexes matched against the end of the name
 *   (`(.*\.)?(key)$`), the first matching key wins.
 * kvant is stricter than PEFT in one way: a list entry that matches no module of the base is an error
 * naming the entry (PEFT only refuses when nothing matches at all).
 */
import { ConfigError } from '@kvant/abi';
import { compilePattern, DEFAULT_TARGET_MODULES, isAllLinear, type ResolvedLoraConfig, type TargetModules } from './config';

function matchesList(list: readonly string[], name: string): boolean {
  return list.some((e) => name === e || name.endsWith(`.${e}`));
}

/** True when `name` is selected by a target (or exclude) spec. */
export function matchesModules(spec: TargetModules, name: string, where = 'target_modules'): boolean {
  if (typeof spec === 'string') return compilePattern(spec, where, 'full').test(name);
  return matchesList(spec, name);
}

/** What targeting needs to know about the base model. */
export interface TargetableModel {
  /** Names of every linear module (e.g. model.layers.0.self_attn.q_proj), the output head included. */
  readonly linearModules: readonly string[];
  /** The output head ("lm_head"), which all-linear leaves out. */
  readonly outputHead?: string;
  /** `model_type` of config.json (llama, mistral, qwen2, phi3…), for the default targets. */
  readonly modelType?: string;
}

/** The target spec with the architecture default applied (what adapter_config.json records). */
export function effectiveTargetSpec(config: ResolvedLoraConfig, model: TargetableModel): TargetModules {
  if (config.target_modules !== null) return config.target_modules;
  const d = model.modelType === undefined ? undefined : DEFAULT_TARGET_MODULES[model.modelType];
  if (!d) {
    throw new ConfigError(
      'LoraConfig.target_modules',
      `a list, a regex or "all-linear" (there is a default only for model types ${Object.keys(DEFAULT_TARGET_MODULES).join(', ')})`,
      `null with model type ${JSON.stringify(model.modelType ?? null)}`,
    );
  }
  return d;
}

/** Names of the modules this config adapts, in the base's order; errors name an entry or pattern that matches nothing. */
export function selectTargets(config: ResolvedLoraConfig, model: TargetableModel): string[] {
  const spec = effectiveTargetSpec(config, model);
  const saved = (config.modules_to_save ?? []).map((m) => new RegExp(`(^|.*\\.)${escapeRegex(m)}($|\\..*)`));
  const excluded = (name: string) =>
    saved.some((re) => re.test(name)) || (config.exclude_modules !== null && matchesModules(config.exclude_modules, name, 'LoraConfig.exclude_modules'));
  let chosen: string[];
  if (isAllLinear(spec)) {
    chosen = model.linearModules.filter((n) => n !== model.outputHead);
  } else if (typeof spec === 'string') {
    const re = compilePattern(spec, 'LoraConfig.target_modules', 'full');
    chosen = model.linearModules.filter((n) => re.test(n));
    if (chosen.length === 0) {
      throw new ConfigError('LoraConfig.target_modules', `a regex matching at least one linear module of the base (such as ${model.linearModules[0] ?? 'none'})`, JSON.stringify(spec));
    }
  } else {
    for (const entry of spec) {
      if (!model.linearModules.some((n) => n === entry || n.endsWith(`.${entry}`))) {
        throw new ConfigError('LoraConfig.target_modules', `names of linear modules of the base (it has ${summarize(model.linearModules)})`, JSON.stringify(entry));
      }
    }
    chosen = model.linearModules.filter((n) => matchesList(spec, n));
  }
  const result = chosen.filter((n) => !excluded(n));
  if (result.length === 0) throw new ConfigError('LoraConfig.target_modules', 'at least one module left after exclude_modules and modules_to_save', 'none');
  return result;
}

function summarize(names: readonly string[]): string {
  const leaves = [...new Set(names.map((n) => n.split('.').pop()!))];
  return leaves.length ? leaves.join(', ') : 'no linear modules';
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** PEFT's get_pattern_key: the value of the first key whose regex matches the end of `name`, else `fallback`. */
export function patternValue(pattern: Readonly<Record<string, number>>, name: string, fallback: number, where: string): number {
  for (const [key, value] of Object.entries(pattern)) {
    if (compilePattern(key, `${where} key ${JSON.stringify(key)}`, 'suffix').test(name)) return value;
  }
  return fallback;
}

/** Rank and alpha of one module under rank_pattern / alpha_pattern. */
export function rankAndAlpha(config: ResolvedLoraConfig, name: string): { r: number; alpha: number } {
  return {
    r: patternValue(config.rank_pattern, name, config.r, 'LoraConfig.rank_pattern'),
    alpha: patternValue(config.alpha_pattern, name, config.lora_alpha, 'LoraConfig.alpha_pattern'),
  };
}
