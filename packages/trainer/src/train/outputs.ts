/**
 * What a finished run leaves in --output-dir, each file written atomically:
 *   adapter_config.json, adapter_model.safetensors   the adapter in PEFT's format (LoRA runs)
 *   (or, with --full, the trained model as a Hugging Face folder: config, weights, tokenizer)
 *   training_args.json     the resolved options of the run (a valid --config file)
 *   trainer_state.json     the log history and final metrics (kvant's checkpoint state format)
 *   loss_curve.png         training loss per logging step, and eval loss when there was eval data
 *   README.md              base model, data, flags and final metrics
 */
import { basename, join } from 'node:path';
import { writeFileAtomic } from '@kvant/formats';
import type { TrainArgs } from './args';
import type { LogEntry } from './checkpoint';
import { lineChartPng, type Series } from './plot';
import type { TrainPlan, TrainResult } from './trainer';

export const LOSS_CURVE_NAME = 'loss_curve.png';

/** The loss curve as PNG bytes (train loss, and eval loss when logged). */
export function lossCurvePng(history: readonly LogEntry[], title = 'kvant train'): Uint8Array {
  const series: Series[] = [{ label: 'train loss', points: history.filter((h) => h.loss !== undefined).map((h) => [h.step, h.loss!] as const) }];
  const evals = history.filter((h) => h.eval_loss !== undefined).map((h) => [h.step, h.eval_loss!] as const);
  if (evals.length) series.push({ label: 'eval loss', points: evals });
  return lineChartPng(series, { title, xLabel: 'step', yLabel: 'loss' });
}

/** The run's README: what was trained on what, how, and how it ended. */
export function runReadme(args: TrainArgs, plan: TrainPlan, result: TrainResult, runtime: string): string {
  const last = [...result.logHistory].reverse();
  const evalEntry = last.find((h) => h.eval_loss !== undefined);
  const flags = Object.entries(args)
    .filter(([k]) => !['json', 'model', 'data', 'eval_data', 'output_dir'].includes(k))
    .map(([k, v]) => `| ${k} | ${Array.isArray(v) ? v.join(',') : String(v)} |`);
  return [
    `# ${basename(args.output_dir)}`,
    '',
    args.full ? `A full fine-tune of \`${args.model}\`, written by \`kvant train --full\`.` : `A LoRA adapter (PEFT format) for \`${args.model}\`, written by \`kvant train\`.`,
    '',
    `- base model: \`${args.model}\`${args.quant_type !== 'none' ? ` (frozen, ${args.quant_type}${args.double_quant ? ' + double quantization' : ''}, blocksize ${args.blocksize})` : ''}`,
    `- data: \`${args.data}\` (${plan.trainRows} rows)${args.eval_data ? `, eval \`${args.eval_data}\`` : args.eval_fraction ? `, ${args.eval_fraction} held out` : ''}${plan.evalRows ? ` (${plan.evalRows} eval rows)` : ''}`,
    `- ${plan.trainableParameters}`,
    `- runtime: ${runtime}`,
    `- ${result.globalStep} steps (${result.status}) in ${result.seconds.toFixed(1)} s; mean train loss ${result.trainLoss.toFixed(4)}` +
      (evalEntry ? `; eval loss ${evalEntry.eval_loss} and token accuracy ${evalEntry.eval_token_accuracy} at step ${evalEntry.step}` : ''),
    '',
    `![loss curve](${LOSS_CURVE_NAME})`,
    '',
    '| option | value |',
    '|---|---|',
    ...flags,
    '',
    args.full
      ? 'Load it like any Hugging Face model folder.'
      : "Load it with PEFT: `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), this_folder)`, or with kvant: `kvant generate --model BASE --adapter THIS_FOLDER`.",
    '',
  ].join('\n');
}

/** Write training_args.json, the final trainer_state.json, loss_curve.png and README.md. */
export async function writeRunFiles(args: TrainArgs, plan: TrainPlan, result: TrainResult, runtime: string, state: Record<string, unknown>): Promise<string[]> {
  const dir = args.output_dir;
  const files: [string, string | Uint8Array][] = [
    ['training_args.json', `${JSON.stringify(args, null, 1)}\n`],
    ['trainer_state.json', `${JSON.stringify(state, null, 1)}\n`],
    [LOSS_CURVE_NAME, lossCurvePng(result.logHistory, `kvant train: ${basename(args.model)}`)],
    ['README.md', runReadme(args, plan, result, runtime)],
  ];
  for (const [name, data] of files) await writeFileAtomic(join(dir, name), data, { force: true });
  return files.map(([n]) => join(dir, n));
}
