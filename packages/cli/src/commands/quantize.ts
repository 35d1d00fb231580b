import { type ModelQuantizeReport, mergeErrorStats, quantizeModel, type QuantType } from '@kvant/quant';
import { createRuntime, DEFAULT_RUNTIME, isRuntimeName, RUNTIME_NAMES } from '@kvant/runtimes';
import { type Command, formatBytes, intOption, parseCommandArgs, print, table, UsageError, writeJsonOut } from '../command';

const USAGE = `usage: kvant quantize <model-dir> --out <dir> [--quant-type nf4|fp4] [--blocksize N] [--double-quant]
                      [--compute-dtype float32|bfloat16|float16] [--skip-modules a,b] [--allow-nonfinite]
                      [--runtime R] [--force] [--json] [--json-out FILE]

Quantizes the linear weights of the decoder blocks (*_proj.weight under model.layers.*) of a local
Hugging Face model folder (config.json + safetensors, single or sharded; F32/F16/BF16) to
bitsandbytes 4-bit, and writes a folder in the layout transformers with bitsandbytes loads as a 4-bit
model. Verified in kvant's CI: the bytes equal an independent implementation of bitsandbytes'
algorithm, and transformers parses the config and tokenizer; loading the weights needs bitsandbytes.
Embeddings, norms and lm_head stay as they are; tokenizer files are copied. The folder is checked
against its config.json first (model_type, every tensor's presence, shape and dtype); nothing is
quantized when it does not match. The input is never modified (docs/guarantees.md).

  --out DIR          output folder (refused if it exists, unless --force; written atomically;
                     never the input, a folder containing it, or a path inside it)
  --quant-type T     nf4 (default) or fp4
  --blocksize N      elements per absmax block: 32 … 4096, power of two (default 64)
  --double-quant     quantize the absmax statistics too (8-bit, nested blocks of 256)
  --compute-dtype D  recorded as bnb_4bit_compute_dtype (default float32)
  --skip-modules L   comma-separated module names kept in full precision (e.g. down_proj or
                     model.layers.0.mlp), written as quantization_config.llm_int8_skip_modules
  --allow-nonfinite  quantize weights holding NaN/Inf after mapping NaN -> 0 and ±Inf -> ±max|finite|
                     of the tensor (default: refuse, naming the tensor, first index and count)
  --runtime R        wasm (default), webgpu, cuda, cuda-emu, reference
  --threads N        wasm: threads to split heavy kernels over (default: this machine's cores)
  --force            replace an existing --out (only at the end, when the new folder is complete)
  --json             print the report as JSON on stdout instead of text
  --json-out FILE    also write the JSON report to FILE

Exit status: 0 done, 1 the input or output was refused (one line naming the file, tensor or
field), 2 a usage error.`;

/** Rows of the report grouped by module kind (q_proj, up_proj, …) with a total. */
export function reportRows(report: ModelQuantizeReport): (string | number)[][] {
  const groups = new Map<string, ModelQuantizeReport['tensors'][number][]>();
  for (const t of report.tensors) {
    const key = t.quantized ? (t.name.match(/\.([a-z_]+_proj)\.weight$/)?.[1] ?? t.name) : 'kept as stored';
    const group = groups.get(key);
    if (group) group.push(t);
    else groups.set(key, [t]);
  }
  const rows: (string | number)[][] = [['tensors', 'count', 'params', 'bytes before', 'bytes after', 'bits/param', 'mean abs err', 'mean rel err', 'SNR dB']];
  const row = (label: string, ts: ModelQuantizeReport['tensors'][number][]) => {
    let params = 0;
    for (const t of ts) params += t.shape.reduce((x, d) => x * d, 1);
    const before = ts.reduce((a, t) => a + t.bytesBefore, 0);
    const after = ts.reduce((a, t) => a + t.bytesAfter, 0);
    const errs = ts.flatMap((t) => (t.error ? [t.error] : []));
    const e = errs.length ? mergeErrorStats(errs) : undefined;
    rows.push([
      label,
      ts.length,
      params.toLocaleString('en-US'),
      formatBytes(before),
      formatBytes(after),
      params ? ((after * 8) / params).toFixed(3) : '-',
      e ? e.meanAbsError.toExponential(3) : '-',
      e ? e.meanRelError.toFixed(4) : '-',
      e ? e.snrDb.toFixed(2) : '-',
    ]);
  };
  for (const [label, ts] of groups) if (label !== 'kept as stored') row(label, ts);
  if (groups.has('kept as stored')) row('kept as stored', groups.get('kept as stored')!);
  row('total', report.tensors as ModelQuantizeReport['tensors'][number][]);
  return rows;
}

/**
 * Progress on stderr: one line rewritten in place on a terminal; otherwise a line at most every
 * two seconds (so logs of large models show progress without a line per tensor).
 */
function progressPrinter(started: number): (i: number, count: number, name: string) => void {
  let last = 0;
  return (i, count, name) => {
    const now = Date.now();
    const elapsed = (now - started) / 1000;
    const eta = i > 1 ? `, eta ${((elapsed / (i - 1)) * (count - i + 1)).toFixed(0)} s` : '';
    const line = `[${i}/${count}] ${name} (${elapsed.toFixed(1)} s${eta})`;
    if (process.stderr.isTTY) {
      process.stderr.write(`\r\x1b[K${line}${i === count ? '\n' : ''}`);
    } else if (now - last >= 2000 || i === count) {
      last = now;
      process.stderr.write(`${line}\n`);
    }
  };
}

export const quantizeCommand: Command = {
  name: 'quantize',
  summary: 'quantize a Hugging Face model folder to bitsandbytes NF4/FP4 (the layout transformers loads as 4-bit)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('quantize', argv, {
      out: { type: 'string' },
      'quant-type': { type: 'string' },
      blocksize: { type: 'string' },
      'double-quant': { type: 'boolean' },
      'compute-dtype': { type: 'string' },
      'skip-modules': { type: 'string' },
      'allow-nonfinite': { type: 'boolean' },
      runtime: { type: 'string' },
      threads: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
      'json-out': { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('kvant quantize', 'one <model-dir>', positionals.length ? positionals.join(' ') : 'none');
    if (!values.out) throw new UsageError('kvant quantize', '--out <dir>', 'no --out');
    const quantType = (values['quant-type'] ?? 'nf4') as QuantType;
    if (quantType !== 'nf4' && quantType !== 'fp4') throw new UsageError('kvant quantize --quant-type', 'nf4 or fp4', JSON.stringify(quantType));
    const computeDtype = values['compute-dtype'] ?? 'float32';
    if (!['float32', 'bfloat16', 'float16'].includes(computeDtype)) throw new UsageError('kvant quantize --compute-dtype', 'float32, bfloat16 or float16', JSON.stringify(computeDtype));
    const blocksize = intOption('quantize', 'blocksize', values.blocksize, 64, 32, 4096);
    if ((blocksize & (blocksize - 1)) !== 0) throw new UsageError('kvant quantize --blocksize', 'a power of two from 32 to 4096', String(blocksize));
    const runtimeName = values.runtime ?? DEFAULT_RUNTIME;
    if (!isRuntimeName(runtimeName)) throw new UsageError('kvant quantize --runtime', `one of ${RUNTIME_NAMES.join(', ')}`, JSON.stringify(runtimeName));
    const skipModules = values['skip-modules']?.split(',').map((m) => m.trim()).filter((m) => m !== '');
    if (values['skip-modules'] !== undefined && !skipModules?.length) throw new UsageError('kvant quantize --skip-modules', 'a comma-separated list of module names', JSON.stringify(values['skip-modules']));
    const threads = values.threads === undefined ? undefined : intOption('quantize', 'threads', values.threads, 1, 1, 256);
    const rt = await createRuntime(runtimeName, { threads });
    const started = Date.now();
    try {
      const report = await quantizeModel(
        rt,
        positionals[0],
        values.out,
        {
          quantType,
          blocksize,
          doubleQuant: values['double-quant'] ?? false,
          computeDtype: computeDtype as 'float32',
        },
        {
          force: values.force,
          onTensor: progressPrinter(started),
          skipModules,
          allowNonFinite: values['allow-nonfinite'],
        },
      );
      await writeJsonOut(values['json-out'], report);
      if (values.json) {
        print(JSON.stringify(report, null, 2));
        return 0;
      }
      print(`quantized ${positionals[0]} -> ${values.out} on ${rt.name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      print(`format: ${report.config.quantType}, blocksize ${report.config.blocksize}${report.config.doubleQuant ? ', double quantization' : ''}`);
      print();
      print(table(reportRows(report)));
      print();
      const reasons = new Map<string, number>();
      for (const k of report.kept) reasons.set(k.reason, (reasons.get(k.reason) ?? 0) + 1);
      print(`kept as stored: ${[...reasons].map(([reason, n]) => `${n} ${reason}`).join('; ') || 'nothing'}`);
      if (report.skipModules) print(`llm_int8_skip_modules: ${report.skipModules.join(', ')}`);
      for (const n of report.notes) print(`note: ${n}`);
      print(`files: ${report.files.join(', ')}`);
      print('checked: the folder against config.json, and the written config and tokenizer; the 4-bit weights are not loaded through bitsandbytes here');
      return 0;
    } finally {
      rt.dispose();
    }
  },
};
