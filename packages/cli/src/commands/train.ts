/**
 * `kvant train --model DIR --data FILE --output-dir DIR [flags]`: SFT with QLoRA (or LoRA, DoRA, or
 * full fine-tuning) through @kvant/trainer. Flags, config-file keys and defaults come from one table
 * (TRAIN_OPTIONS), named after PEFT's LoraConfig and TRL's SFTConfig; `--config FILE.json|yaml`
 * holds the same keys in snake_case and the command line overrides it. Prints the trainable
 * parameters, the memory of each part and a progress bar (or, with --json, one JSON line per event),
 * and writes the adapter, checkpoints, loss curve and a README into --output-dir.
 */
import { extname } from 'node:path';
import { ConfigError, DispatchProfile, profiledRuntime, type Runtime } from '@kvant/abi';
import { readRegularFile } from '@kvant/formats';
import { DECODER_BACKWARD_KERNELS, DECODER_FORWARD_KERNELS } from '@kvant/model';
import type { RuntimeName } from '@kvant/abi';
import { probeRuntime } from '@kvant/runtimes';
import { resolveTrainArgs, TRAIN_OPTIONS, type TrainArgs, type TrainArgsInput, type TrainEvent, Trainer, type TrainOption, trainOption } from '@kvant/trainer';
import cliProgress from 'cli-progress';
import { parse as parseYaml } from 'yaml';
import { type Command, formatBytes, parseCommandArgs, print, table, UsageError } from '../command';
import { openRuntimeFor } from './generation-options';

const GROUPS: Record<TrainOption['group'], string> = {
  paths: 'Model, data and output',
  lora: 'Adapter (PEFT LoraConfig)',
  quant: 'Base quantization (bitsandbytes)',
  optim: 'Optimizer and schedule',
  data: 'Data (TRL SFTConfig)',
  loop: 'Loop',
  output: 'Logging, evaluation and checkpoints',
  runtime: 'Runtime',
};

function flagText(o: TrainOption): string {
  if (o.type === 'bool' || o.type === 'nullable-bool') return o.default === true ? `--[no-]${o.flag}` : `--${o.flag}`;
  const meta = o.type === 'int' ? 'N' : o.type === 'float' ? 'X' : o.choices ? o.choices.join('|') : o.type === 'list' ? 'LIST' : 'VALUE';
  return `--${o.flag} ${meta}`;
}

function usage(): string {
  const lines = [
    'usage: kvant train --model DIR --data FILE --output-dir DIR [flags] [--config FILE.json|yaml]',
    '',
    'Fine-tunes a Hugging Face model folder on SFT data with TRL SFTTrainer\'s semantics: QLoRA by default',
    '(the frozen base in NF4, a LoRA adapter on top), LoRA on a dense base with --quant-type none, DoRA with',
    '--use-dora, or every weight with --full. Writes the adapter in PEFT\'s format, checkpoints, the loss',
    'curve and a README into --output-dir. Ctrl-C saves a checkpoint and stops; --resume-from-checkpoint',
    'continues exactly. A --config file holds the same options in snake_case (lora_r: 16); flags override it.',
  ];
  for (const [group, title] of Object.entries(GROUPS)) {
    lines.push('', `${title}:`);
    for (const o of TRAIN_OPTIONS.filter((x) => x.group === group)) {
      const def = o.defaultText ?? (o.default === undefined ? 'none' : String(o.default));
      const head = `  ${flagText(o)}`;
      lines.push(`${head.padEnd(38)} ${o.help} (default: ${def})`);
    }
  }
  lines.push('', 'Other:', `${'  --config FILE'.padEnd(38)} options as JSON or YAML, snake_case keys`, `${'  -h, --help'.padEnd(38)} this text`);
  lines.push('', 'Exit status: 0 done (or stopped by Ctrl-C after a checkpoint), 1 the input was refused or training diverged, 2 a usage error.');
  return lines.join('\n');
}

/** Turn one flag's string into its typed value. */
function flagValue(o: TrainOption, raw: string): unknown {
  if (o.type === 'int') {
    if (!/^[+-]?\d+$/.test(raw.trim())) throw new UsageError(`kvant train --${o.flag}`, 'an integer', JSON.stringify(raw));
    return Number(raw);
  }
  if (o.type === 'float') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`kvant train --${o.flag}`, 'a number', JSON.stringify(raw));
    return n;
  }
  return raw;
}

/** Read --config: JSON or YAML, an object of snake_case keys. */
async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  const text = (await readRegularFile(path, 'a config file (JSON or YAML)')).toString('utf8');
  let value: unknown;
  try {
    value = ['.yaml', '.yml'].includes(extname(path).toLowerCase()) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`kvant train --config ${path}`, extname(path).match(/ya?ml/i) ? 'YAML' : 'JSON', (e as Error).message.split('\n')[0]);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`kvant train --config ${path}`, 'an object of options', JSON.stringify(value)?.slice(0, 60) ?? String(value));
  for (const k of Object.keys(value)) {
    if (!trainOption(k)) throw new ConfigError(`kvant train --config ${path}: ${k}`, 'a known option key (snake_case, as `kvant train --help` lists them with dashes)', 'an unknown key');
  }
  return value as Record<string, unknown>;
}

/** Parse argv into resolved TrainArgs (config file under flags). */
export async function parseTrainArgs(argv: string[]): Promise<TrainArgs | 'help'> {
  const options: Record<string, { type: 'string' | 'boolean' }> = { config: { type: 'string' } };
  for (const o of TRAIN_OPTIONS) {
    if (o.type === 'bool' || o.type === 'nullable-bool') {
      options[o.flag] = { type: 'boolean' };
      options[`no-${o.flag}`] = { type: 'boolean' };
    } else options[o.flag] = { type: 'string' };
  }
  const { values, positionals } = parseCommandArgs('train', argv, options, false);
  if (values.help) return 'help';
  void positionals;
  const fromFile = typeof values.config === 'string' ? await readConfigFile(values.config) : {};
  const input: Record<string, unknown> = { ...fromFile };
  for (const o of TRAIN_OPTIONS) {
    if (o.type === 'bool' || o.type === 'nullable-bool') {
      const on = values[o.flag] === true;
      const off = values[`no-${o.flag}`] === true;
      if (on && off) throw new UsageError(`kvant train --${o.flag}`, `one of --${o.flag} and --no-${o.flag}`, 'both');
      if (on) input[o.key] = true;
      if (off) input[o.key] = false;
      continue;
    }
    const raw = values[o.flag];
    if (typeof raw === 'string') input[o.key] = flagValue(o, raw);
  }
  for (const key of ['model', 'data', 'output_dir']) {
    if (input[key] === undefined) throw new UsageError(`kvant train --${trainOption(key)!.flag}`, `--${trainOption(key)!.flag} (or "${key}" in --config)`, 'none');
  }
  return resolveTrainArgs(input as TrainArgsInput);
}

export const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software|fallback/i;
const TRAIN_KERNELS = [...DECODER_FORWARD_KERNELS, ...DECODER_BACKWARD_KERNELS, 'nn.argmax', 'linalg.sum_squares'];

/** --runtime auto: cuda, then a hardware WebGPU adapter, then wasm. */
export async function trainRuntime(name: TrainArgs['runtime'], threads: number | undefined, log: (line: string) => void): Promise<Runtime> {
  const open = (n: RuntimeName) => openRuntimeFor(n, TRAIN_KERNELS, { threads });
  if (name !== 'auto') {
    const rt = await open(name);
    if (typeof rt === 'string') throw new ConfigError('kvant train --runtime', 'a runtime with every kernel training uses', rt);
    return rt;
  }
  for (const n of ['cuda', 'webgpu'] as const) {
    const probe = await probeRuntime(n);
    if (probe.status !== 'available') continue;
    const rt = await open(n);
    if (typeof rt === 'string') {
      log(`runtime auto: ${rt}`);
      continue;
    }
    if (n === 'webgpu' && SOFTWARE_ADAPTER.test(rt.info().description)) {
      log(`runtime auto: skipping the software WebGPU adapter (${rt.info().description})`);
      rt.dispose();
      continue;
    }
    return rt;
  }
  const rt = await open('wasm');
  if (typeof rt === 'string') throw new ConfigError('kvant train --runtime auto', 'a runtime with every kernel training uses', rt);
  return rt;
}

function fmt(x: number | undefined, digits = 4): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}

/** --profile: the kernels by time (the 15 slowest, then the rest summed), with the work their specs count. */
export function profileTable(profile: DispatchProfile, loopSeconds: number): string {
  const rows = profile.rows();
  const total = profile.totalMs();
  const shown = rows.slice(0, 15);
  const rest = rows.slice(15);
  const line = (name: string, calls: number, ms: number, flops: number, bytes: number) => [
    name,
    calls,
    ms.toFixed(1),
    `${total > 0 ? ((100 * ms) / total).toFixed(1) : '0.0'}%`,
    (ms / calls).toFixed(3),
    ms > 0 && flops > 0 ? (flops / ms / 1e6).toFixed(2) : '-',
    ms > 0 ? (bytes / ms / 1e6).toFixed(2) : '-',
  ];
  const body = shown.map((r) => line(r.kernel, r.calls, r.ms, r.flops, r.bytes));
  if (rest.length) {
    const sum = (f: (r: (typeof rows)[number]) => number) => rest.reduce((a, r) => a + f(r), 0);
    body.push(line(`(${rest.length} more kernels)`, sum((r) => r.calls), sum((r) => r.ms), sum((r) => r.flops), sum((r) => r.bytes)));
  }
  const head = profile.hostOnly
    ? `profile: ${(total / 1e3).toFixed(2)} s enqueuing kernels (this runtime runs them asynchronously: the host's time, not the device's) of the loop's ${loopSeconds.toFixed(2)} s`
    : `profile: ${(total / 1e3).toFixed(2)} s in kernels of the loop's ${loopSeconds.toFixed(2)} s (${loopSeconds > 0 ? ((100 * total) / 1e3 / loopSeconds).toFixed(0) : '0'}%; the rest is the host: batching, scheduling, logging)`;
  return `${head}\n${table([['kernel', 'calls', 'ms', 'share', 'ms/call', 'GFLOP/s', 'GB/s'], ...body])}`;
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'SFT with QLoRA / LoRA / DoRA / full fine-tuning: checkpoints, exact resume, eval, PEFT adapter out',
  get usage() {
    return usage();
  },
  async run(argv) {
    const args = await parseTrainArgs(argv);
    if (args === 'help') {
      print(usage());
      return 0;
    }
    const json = args.json;
    const say = (line: string) => (json ? process.stderr.write(`${line}\n`) : print(line));
    const profile = args.profile ? new DispatchProfile() : undefined;
    const opened = await trainRuntime(args.runtime, args.threads, say);
    const rt = profile ? profiledRuntime(opened, profile) : opened;
    let bar: cliProgress.SingleBar | undefined;
    let barRunning = false;
    let trainer: Trainer | undefined;
    let firstInterrupt = 0;
    const onSigint = () => {
      // A terminal's Ctrl-C reaches pnpm, tsx and node at once and tsx relays it: a repeat within a
      // second is the same keypress. A later one quits at once.
      const now = Date.now();
      if (firstInterrupt && now - firstInterrupt > 1000) process.exit(130);
      if (firstInterrupt) return;
      firstInterrupt = now;
      say('\nkvant train: Ctrl-C, stopping after this step with a checkpoint (Ctrl-C again to quit now)');
      trainer?.stop();
    };
    process.on('SIGINT', onSigint);
    try {
      const onEvent = (e: TrainEvent) => {
        if (json) {
          if (e.kind !== 'step') process.stdout.write(`${JSON.stringify({ event: e.kind, ...(e.kind === 'log' || e.kind === 'eval' ? e.entry : e) })}\n`);
          return;
        }
        if (e.kind === 'step') {
          const payload = { loss: fmt(e.loss), lr: e.learningRate.toExponential(2), tps: Math.round(e.tokensPerSecond), mem: formatBytes(process.memoryUsage().rss) };
          if (!barRunning) bar?.start(e.totalSteps, e.step, payload);
          else bar?.update(e.step, payload);
          barRunning = true;
          return;
        }
        if (e.kind === 'log') {
          // On a terminal the bar shows it; in a log file, one line per logging step.
          if (!bar) print(`step ${e.entry.step}/${trainer!.plan.totalSteps}: loss ${fmt(e.entry.loss)}, lr ${e.entry.learning_rate?.toExponential(2)}, grad norm ${fmt(e.entry.grad_norm, 3)}, ${e.entry.tokens_per_second} tok/s`);
          return;
        }
        // A line between bar updates: stop the bar (it is started again by the next step).
        if (barRunning) bar?.stop();
        barRunning = false;
        if (e.kind === 'eval') print(`step ${e.entry.step}: eval loss ${fmt(e.entry.eval_loss)}, eval token accuracy ${fmt(e.entry.eval_token_accuracy, 3)}`);
        else if (e.kind === 'save') print(`step ${e.step}: checkpoint ${e.path}${e.removed.length ? ` (removed ${e.removed.length} older)` : ''}`);
        else if (e.kind === 'resume') print(`resumed from ${e.path} at step ${e.step}`);
      };
      trainer = await Trainer.create(rt, args, { onEvent });
      const p = trainer.plan;
      const m = trainer.memory();
      say(`runtime: ${rt.info().description}`);
      say(p.trainableParameters);
      if (!json) {
        print(
          table(
            [
              ['memory', 'bytes'],
              [`base (${trainer.decoder.loadReport?.linearStorage ?? 'f32'})`, formatBytes(m.base)],
              [args.full ? 'trained weights' : 'adapter', formatBytes(m.trainable)],
              ['gradients', formatBytes(m.gradients)],
              [`optimizer (${args.optim})`, formatBytes(m.optimizer)],
              [`activations${args.gradient_checkpointing ? ' (checkpointing)' : ''}`, formatBytes(m.activations)],
            ],
            ['l', 'r'],
          ),
        );
      }
      for (const [name, d] of [['train', trainer.data.train], ['eval', trainer.data.eval]] as const) {
        if (!d) continue;
        const st = d.stats;
        say(
          `${name} data: ${st.records} ${st.format} record(s) -> ${st.rows} row(s), ${st.tokens} tokens (${st.lossTokens} carry loss); ` +
            `truncated to ${st.config.maxLength ?? 'no limit'}: ${st.truncated} (${st.truncatedTokens} tokens cut); skipped without a loss token: ${st.droppedNoLoss}` +
            (st.droppedNoLoss ? ` (lines ${st.droppedNoLossLines.join(', ')}${st.droppedNoLoss > st.droppedNoLossLines.length ? ', …' : ''})` : ''),
        );
      }
      say(`${p.trainRows} training rows${p.evalRows ? `, ${p.evalRows} eval rows` : ''}; ${p.stepsPerEpoch} steps per epoch; ${p.totalSteps} steps; warmup ${p.warmupSteps}`);
      if (args.resume_from_checkpoint) await trainer.resume(args.resume_from_checkpoint);
      if (!json && process.stdout.isTTY) {
        bar = new cliProgress.SingleBar(
          { format: 'step {value}/{total} |{bar}| loss {loss} | lr {lr} | {tps} tok/s | ETA {eta_formatted} | mem {mem}', hideCursor: true, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        );
      }
      profile?.reset(); // the training loop only, not loading and quantizing the model
      const result = await trainer.train();
      if (barRunning) bar?.stop();
      barRunning = false;
      bar = undefined;
      const files = await trainer.saveOutputs(result);
      const timing = profile ? { profile: { host_only: profile.hostOnly, kernel_ms: profile.totalMs(), kernels: profile.rows() } } : {};
      if (json) process.stdout.write(`${JSON.stringify({ event: 'end', status: result.status, global_step: result.globalStep, train_loss: result.trainLoss, eval: result.eval ?? null, seconds: result.seconds, files, ...timing })}\n`);
      else {
        if (profile) print(profileTable(profile, result.seconds));
        print(`${result.status}: ${result.globalStep} steps in ${result.seconds.toFixed(1)} s, mean train loss ${fmt(result.trainLoss)}`);
        if (result.eval) print(`eval: loss ${fmt(result.eval.loss)}, token accuracy ${fmt(result.eval.tokenAccuracy, 3)} over ${result.eval.tokens} tokens`);
        print(`wrote ${args.full ? 'the model' : 'the adapter (PEFT format)'}, loss curve and README to ${args.output_dir}`);
      }
      return 0;
    } finally {
      if (barRunning) bar?.stop();
      process.removeListener('SIGINT', onSigint);
      trainer?.dispose();
      rt.dispose();
    }
  },
};
