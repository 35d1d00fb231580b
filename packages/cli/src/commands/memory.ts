/**
 * `kvant memory <model-dir | config.json | preset>`: the memory table of the course for any
 * Hugging Face config — parameter count, weight bytes per format (the get_memory_footprint figure
 * next to the true bytes), and full fine-tuning, LoRA and QLoRA estimates.
 */
import { lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '@kvant/abi';
import { type JsonValue, readJsonFile } from '@kvant/formats';
import { findPreset, MODEL_PRESETS, type MemoryReport, memoryReport, type RestDtype } from '@kvant/quant';
import { type Command, formatBytes, intOption, parseCommandArgs, print, table, UsageError, writeJsonOut } from '../command';

const USAGE = `usage: kvant memory <model-dir | config.json | preset> [--lora-r R] [--target-modules a,b,c|all-linear]
                    [--blocksize N] [--rest-dtype bf16|fp16|fp32] [--json] [--json-out FILE]

Prints the memory of a model in fp32, bf16, int8, NF4 and NF4 + double quantization, and of
full fine-tuning, LoRA and QLoRA, from its config.json alone (no weights are read).
"footprint" is what transformers' get_memory_footprint() reports (packed 4-bit weights only);
"true bytes" adds the quantization statistics and tables. Activations are not counted.

  <model-dir>            a local Hugging Face folder (reads <dir>/config.json)
  <config.json>          a config file
  <preset>               an embedded config: ${MODEL_PRESETS.map((p) => p.name).join(', ')}
  --lora-r R             LoRA rank (default 16)
  --target-modules LIST  comma-separated module names, or all-linear
                         (default q_proj,k_proj,v_proj,o_proj; on Phi-3 qkv_proj,o_proj)
  --blocksize N          4-bit blocksize, a power of two from 32 to 4096 (default 64)
  --rest-dtype D         dtype of the unquantized parameters (default bf16)
  --json                 print the report as JSON on stdout instead of tables
  --json-out FILE        also write the JSON report to FILE

config.json is read strictly (a repeated key is an error, as in kvant quantize).
Exit status: 0 done, 1 the config was refused (naming the file and field), 2 a usage error.`;

/** Where a config came from. */
export type ConfigSource = { kind: 'file'; path: string } | { kind: 'preset'; name: string; huggingFaceId: string };

/**
 * Read the config named on the command line: a folder (its config.json), a config file, or a
 * preset name. Files are read with @kvant/formats' strict reader (regular files only, each key once).
 */
export async function loadModelConfig(arg: string): Promise<{ config: JsonValue; source: ConfigSource }> {
  const exists = await lstat(arg).then(
    () => true,
    () => false,
  );
  if (exists) {
    const isDir = !arg.endsWith('.json') && (await stat(arg).then((s) => s.isDirectory(), () => false));
    const path = isDir ? join(arg, 'config.json') : arg;
    return { config: await readJsonFile(path), source: { kind: 'file', path } };
  }
  const preset = findPreset(arg);
  if (preset) return { config: preset.config as JsonValue, source: { kind: 'preset', name: preset.name, huggingFaceId: preset.huggingFaceId } };
  throw new ConfigError(
    'kvant memory',
    `a model folder, a config.json or a preset (${MODEL_PRESETS.map((p) => p.name).join(', ')})`,
    `${JSON.stringify(arg)}: no such file or directory`,
  );
}

const count = (n: number) => n.toLocaleString('en-US');
const millions = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : count(n));
const bits = (b: number) => b.toFixed(3);

/** The report as text: the weights table, the training table, assumptions and notes. */
export function formatMemoryReport(report: MemoryReport, title: string): string {
  const p = report.parameters;
  const o = report.options;
  const lines: string[] = [];
  lines.push(`${title}: model_type ${report.modelType}, ${count(p.total)} parameters`);
  lines.push(
    `  linear weights ${count(p.linear)} in ${p.linearTensors} tensors; rest ${count(p.rest)} ` +
      `(embedding ${millions(p.embedding)}, lm_head ${p.lmHead ? millions(p.lmHead) : 'tied'}, norms ${millions(p.norms)}, biases ${millions(p.biases)})`,
  );
  lines.push(`  blocksize ${o.blocksize}, rest in ${o.restDtype}, LoRA r=${o.loraR} on ${o.targetModules.join(',')}`);
  lines.push('');
  lines.push(
    table(
      [
        ['weights', 'footprint', 'true bytes', 'bits/param', 'stored as'],
        ...report.weights.map((w) => [w.format, formatBytes(w.footprintBytes), formatBytes(w.trueBytes), bits(w.linearBitsPerParam), w.description]),
      ],
      ['l', 'r', 'r', 'r', 'l'],
    ),
  );
  lines.push(
    `  bits/param: true bits per linear-weight parameter, statistics included ` +
      `(asymptotic NF4 ${report.bitsPerParam.nf4}, NF4+DQ ${bits(report.bitsPerParam.nf4dq)})`,
  );
  lines.push('');
  lines.push(
    table(
      [
        ['training', 'trainable', 'weights', 'gradients', 'optimizer', 'total'],
        ...report.training.map((t) => [
          t.description,
          count(t.trainableParameters),
          formatBytes(t.weightBytes),
          formatBytes(t.gradientBytes),
          formatBytes(t.optimizerBytes),
          formatBytes(t.totalBytes),
        ]),
      ],
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  lines.push('');
  lines.push('assumptions:');
  for (const t of report.training) lines.push(`  ${t.description}: ${t.assumptions}`);
  for (const n of report.notes) lines.push(`  ${n}`);
  return lines.join('\n');
}

const REST_DTYPES: readonly RestDtype[] = ['bf16', 'fp16', 'fp32'];

export const memoryCommand: Command = {
  name: 'memory',
  summary: 'memory of a model in each format, and of full fine-tuning, LoRA and QLoRA',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('memory', argv, {
      'lora-r': { type: 'string' },
      'target-modules': { type: 'string' },
      blocksize: { type: 'string' },
      'rest-dtype': { type: 'string' },
      json: { type: 'boolean' },
      'json-out': { type: 'string' },
    });
    if (positionals.length !== 1) {
      throw new UsageError('kvant memory', 'one model folder, config.json or preset name', positionals.length ? positionals.join(' ') : 'none');
    }
    const restDtype = (values['rest-dtype'] ?? 'bf16') as RestDtype;
    if (!REST_DTYPES.includes(restDtype)) throw new UsageError('kvant memory --rest-dtype', REST_DTYPES.join(', '), JSON.stringify(restDtype));
    const targets = values['target-modules'];
    const loraR = intOption('memory', 'lora-r', values['lora-r'], 16, 1, 1 << 20);
    const blocksize = intOption('memory', 'blocksize', values.blocksize, 64, 32, 4096);
    if ((blocksize & (blocksize - 1)) !== 0) throw new UsageError('kvant memory --blocksize', 'a power of two from 32 to 4096', String(blocksize));
    const { config, source } = await loadModelConfig(positionals[0]);
    const report = memoryReport(config, {
      loraR,
      blocksize,
      source: source.kind === 'file' ? source.path : `preset ${source.name}`,
      restDtype,
      targetModules: targets === undefined ? undefined : targets.trim() === 'all-linear' ? 'all-linear' : targets.split(',').filter((t) => t.trim() !== ''),
    });
    await writeJsonOut(values['json-out'], { source, ...report });
    if (values.json) {
      print(JSON.stringify({ source, ...report }, null, 2));
    } else {
      print(formatMemoryReport(report, source.kind === 'preset' ? `${source.huggingFaceId} (preset ${source.name})` : source.path));
    }
    return 0;
  },
};
