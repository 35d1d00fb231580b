/**
 * `kvant merge`: a model folder and a PEFT LoRA adapter merged into one Hugging Face folder that
 * transformers loads — dense (exact within f32 rounding; a 4-bit base is dequantized first), or with
 * --requantize a bitsandbytes 4-bit folder again, with how far the requantized weights moved.
 */
import { checkOutputPath } from '@kvant/formats';
import { Decoder, linearModules, mergeModelFolder, type SaveDtype } from '@kvant/model';
import { FourBitBase } from '@kvant/lora';
import { createRuntime, DEFAULT_RUNTIME, isRuntimeName, RUNTIME_NAMES } from '@kvant/runtimes';
import { type Command, parseCommandArgs, print, UsageError } from '../command';

const USAGE = `usage: kvant merge --model DIR --adapter DIR --out DIR [--requantize] [--dtype f32|bf16|f16]
                   [--runtime R] [--force] [--json]

Merges a PEFT LoRA (or DoRA) adapter into its base model (llama, mistral, qwen2, phi3) and writes a
Hugging Face folder: config.json, model.safetensors (sharded past 5 GB) and the tokenizer files.

  --model DIR     the base model folder: dense (F32/BF16/F16), or bitsandbytes 4-bit (kvant quantize)
  --adapter DIR   the adapter folder (adapter_config.json, adapter_model.safetensors) trained on --model
  --out DIR       the merged folder (refused if it exists, unless --force; written atomically; never
                  an input, a folder containing one, or a path inside one)
  --requantize    with a 4-bit --model: merge into the 4-bit weights and write a 4-bit folder again
                  (a new rounding of W + s·B·A; how far it moved is reported). Default: dense.
  --dtype D       storage of the dense tensors: f32 (the default: exact), bf16 or f16
  --runtime R     ${RUNTIME_NAMES.join(', ')} (default ${DEFAULT_RUNTIME})
  --force         replace an existing --out (only at the end, when the new folder is complete)
  --json          print the report as JSON on stdout

A dense base gives W + s·B·A exactly within f32 rounding. A 4-bit base is dequantized and merged into a
dense copy, deq(W4) + s·B·A: the weights the adapter was trained against (the original 16-bit weights
are not in a 4-bit folder). The adapter must belong to --model: a module or shape it lacks is refused,
as are an unknown architecture and an existing --out, before anything is written.
Exit status: 0 done, 1 an input or the output was refused, 2 a usage error.`;

export const mergeCommand: Command = {
  name: 'merge',
  summary: 'merge a LoRA adapter into its base model: a Hugging Face folder (dense, or 4-bit with --requantize)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('merge', argv, {
      model: { type: 'string' },
      adapter: { type: 'string' },
      out: { type: 'string' },
      requantize: { type: 'boolean' },
      dtype: { type: 'string' },
      runtime: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      print(USAGE);
      return 0;
    }
    if (positionals.length) throw new UsageError('kvant merge', 'no positional arguments (use --model, --adapter and --out)', JSON.stringify(positionals[0]));
    for (const flag of ['model', 'adapter', 'out'] as const) if (!values[flag]) throw new UsageError('kvant merge', `--${flag} DIR`, 'none');
    const dtype = (values.dtype ?? 'f32') as SaveDtype;
    if (!['f32', 'bf16', 'f16'].includes(dtype)) throw new UsageError('kvant merge --dtype', 'f32, bf16 or f16', JSON.stringify(values.dtype));
    const runtimeName = values.runtime ?? DEFAULT_RUNTIME;
    if (!isRuntimeName(runtimeName)) throw new UsageError('kvant merge --runtime', `one of ${RUNTIME_NAMES.join(', ')}`, JSON.stringify(runtimeName));
    const [modelDir, adapterDir, out] = [values.model!, values.adapter!, values.out!];
    // Refuse an existing or overlapping output before loading anything.
    await checkOutputPath(out, { force: values.force, inputs: [modelDir, adapterDir] });
    const rt = await createRuntime(runtimeName);
    const started = Date.now();
    try {
      const model = await Decoder.fromFolder(rt, modelDir);
      try {
        await model.loadAdapter(adapterDir);
        const fourBit = linearModules(model.weights).filter((m) => m.base instanceof FourBitBase);
        const notes: string[] = [];
        if (fourBit.length > 0 && !values.requantize) {
          notes.push(
            `the base is 4-bit (${fourBit[0].base.describe().replace(/ \[.*?\]/, '')}): merged into a dense copy of the dequantized weights, the ones the adapter was trained against (--requantize writes 4-bit again, at the cost of a new rounding)`,
          );
        }
        const r = await mergeModelFolder(model, out, { dtype, force: values.force, requantize: values.requantize, adapterDir });
        const seconds = (Date.now() - started) / 1000;
        if (values.json) {
          print(JSON.stringify({ out, mode: r.mode, dtype, merged: r.merged, dequantized: r.dequantized, requantized: r.requantized, worst: r.worst, files: r.saved.files, notes, seconds }, null, 2));
          return 0;
        }
        for (const n of notes) print(`note: ${n}`);
        print(`merged ${adapterDir} into ${modelDir} -> ${out} on ${rt.name} in ${seconds.toFixed(1)} s`);
        print(`${r.merged.length} modules merged; ${r.mode === 'dense' ? `weights written as ${dtype}` : 'linear weights requantized to 4-bit'}`);
        if (r.mode === 'requantized') {
          const w = r.worst;
          print(
            `requantization moved the merged weights by up to ${w.maxAbsError.toExponential(3)} (${(100 * w.relMaxError).toFixed(2)}% of max |W|); worst ‖error‖/‖W‖ = ${w.relNormError.toExponential(3)} over ${r.requantized.length} modules`,
          );
        }
        print(`files: ${r.saved.files.join(', ')}`);
        return 0;
      } finally {
        model.dispose();
      }
    } finally {
      rt.dispose();
    }
  },
};
