/**
 * `kvant export-gguf`: a model folder (with a LoRA adapter merged in) as one GGUF file for llama.cpp
 * and Ollama, f16, q8_0 or f32; or with --adapter-only the adapter alone as a GGUF LoRA adapter
 * (llama.cpp's --lora, Ollama's ADAPTER); and with --ollama an Ollama Modelfile next to it. What
 * llama.cpp could not load the same way (an architecture or tokenizer kvant has no mapping for) is
 * refused before anything is written.
 */
import { join, relative, resolve } from 'node:path';
import { checkOutputPath, readHfConfig, writeFileAtomic } from '@kvant/formats';
import { Decoder, decoderConfig, exportGguf, type GgufExportType, ggufArchitecture, ggufTokenizer, ollamaModelfile } from '@kvant/model';
import { createRuntime, DEFAULT_RUNTIME, isRuntimeName, RUNTIME_NAMES } from '@kvant/runtimes';
import { type Command, formatBytes, parseCommandArgs, print, UsageError } from '../command';

const USAGE = `usage: kvant export-gguf --model DIR [--adapter DIR] --out FILE [--type f16|q8_0|f32] [--adapter-only]
                         [--ollama DIR] [--ollama-from REF] [--name NAME] [--runtime R] [--force] [--json]

Writes a GGUF file (version 3) for llama.cpp and Ollama from a Hugging Face model folder (llama,
mistral, qwen2; dense or bitsandbytes 4-bit), with the tokenizer (byte-level BPE) and chat template.

  --model DIR        the base model folder
  --adapter DIR      a PEFT LoRA adapter trained on --model: merged into the weights (DoRA too)
  --out FILE         the GGUF file (refused if it exists, unless --force; written atomically)
  --type T           f16 (the default), q8_0 (blocks of 32: an f16 scale and 32 int8 codes) or f32;
                     norms stay f32, and a q8_0 tensor whose rows are not a multiple of 32 is f16
  --adapter-only     write the adapter alone (general.type "adapter", lora_a/lora_b tensors) for
                     llama.cpp's --lora and Ollama's ADAPTER, instead of the merged model
  --ollama DIR       also write DIR/Modelfile: FROM, ADAPTER, TEMPLATE (ChatML templates) and stops
  --ollama-from REF  the Modelfile's FROM for --adapter-only (default: the --model folder's path;
                     use the name or GGUF of the base model as Ollama knows it)
  --name NAME        general.name (default: the model folder's name)
  --runtime R        ${RUNTIME_NAMES.join(', ')} (default ${DEFAULT_RUNTIME}): where the adapter is merged
  --force            replace an existing --out and Modelfile
  --json             print the report as JSON on stdout

Verified in kvant's CI: the files read back with the gguf Python package and @huggingface/gguf (tensors,
shapes, types, metadata, q8_0 values). llama.cpp itself is not run there.
Exit status: 0 done, 1 an input or the output was refused, 2 a usage error.`;

export const exportGgufCommand: Command = {
  name: 'export-gguf',
  summary: 'export a model (with its LoRA adapter merged) or the adapter alone as GGUF for llama.cpp and Ollama',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('export-gguf', argv, {
      model: { type: 'string' },
      adapter: { type: 'string' },
      out: { type: 'string' },
      type: { type: 'string' },
      'adapter-only': { type: 'boolean' },
      ollama: { type: 'string' },
      'ollama-from': { type: 'string' },
      name: { type: 'string' },
      runtime: { type: 'string' },
      force: { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      print(USAGE);
      return 0;
    }
    if (positionals.length) throw new UsageError('kvant export-gguf', 'no positional arguments (use --model and --out)', JSON.stringify(positionals[0]));
    if (!values.model) throw new UsageError('kvant export-gguf', '--model DIR', 'none');
    if (!values.out) throw new UsageError('kvant export-gguf', '--out FILE', 'none');
    const type = (values.type ?? 'f16') as GgufExportType;
    if (!['f16', 'q8_0', 'f32'].includes(type)) throw new UsageError('kvant export-gguf --type', 'f16, q8_0 or f32', JSON.stringify(values.type));
    const adapterOnly = values['adapter-only'] ?? false;
    if (adapterOnly && !values.adapter) throw new UsageError('kvant export-gguf --adapter-only', '--adapter DIR', 'none');
    if (values['ollama-from'] !== undefined && !(adapterOnly && values.ollama)) throw new UsageError('kvant export-gguf --ollama-from', '--adapter-only and --ollama', 'without them');
    const runtimeName = values.runtime ?? DEFAULT_RUNTIME;
    if (!isRuntimeName(runtimeName)) throw new UsageError('kvant export-gguf --runtime', `one of ${RUNTIME_NAMES.join(', ')}`, JSON.stringify(runtimeName));
    const modelDir = values.model;
    const out = values.out;
    const inputs = [modelDir, ...(values.adapter ? [values.adapter] : [])];
    const modelfile = values.ollama ? join(values.ollama, 'Modelfile') : undefined;

    // Everything that can be refused is refused before the weights are read or anything is written.
    await checkOutputPath(out, { force: values.force, inputs });
    if (modelfile) await checkOutputPath(modelfile, { force: values.force, inputs });
    const config = decoderConfig(await readHfConfig(modelDir), join(modelDir, 'config.json'));
    ggufArchitecture(config, join(modelDir, 'config.json'));
    if (!adapterOnly) await ggufTokenizer(modelDir, config);

    const rt = await createRuntime(runtimeName);
    const started = Date.now();
    try {
      const model = await Decoder.fromFolder(rt, modelDir);
      try {
        if (values.adapter) await model.loadAdapter(values.adapter);
        const r = await exportGguf(model, out, { type, adapterOnly, force: values.force, name: values.name, inputs: values.adapter ? [values.adapter] : [] });
        const notes = [...r.notes];
        let modelfileText: string | undefined;
        if (modelfile) {
          const dir = resolve(values.ollama!);
          const rel = relative(dir, resolve(out));
          const ref = rel.startsWith('..') ? resolve(out) : `./${rel}`;
          const m = adapterOnly
            ? ollamaModelfile({ from: values['ollama-from'] ?? resolve(modelDir), adapter: ref, comment: `kvant export-gguf --adapter-only: ${values.adapter} on ${modelDir}` })
            : ollamaModelfile({
                from: ref,
                template: r.tokenizer?.chatTemplate,
                tokenizer: r.tokenizer?.tokenizer,
                stop: r.tokenizer?.eosTokens,
                comment: `kvant export-gguf: ${modelDir}${values.adapter ? ` + ${values.adapter}` : ''}, ${type}`,
              });
          notes.push(...m.notes);
          if (adapterOnly && values['ollama-from'] === undefined) notes.push('FROM is the --model folder; Ollama imports safetensors folders of some architectures only: set --ollama-from to the base model as Ollama knows it');
          await writeFileAtomic(modelfile, m.text, { checkOutput: true, force: values.force, inputs });
          modelfileText = m.text;
        }
        const seconds = (Date.now() - started) / 1000;
        if (values.json) {
          const { tokenizer: _t, ...report } = r;
          print(JSON.stringify({ ...report, type, modelfile, modelfileText, notes, seconds }, null, 2));
          return 0;
        }
        for (const n of notes) print(`note: ${n}`);
        print(`wrote ${out} (${r.kind}, ${r.arch}, ${type}): ${r.tensors.length} tensors, ${formatBytes(r.bytes)}${r.tokenizerPre ? `, tokenizer gpt2/${r.tokenizerPre}` : ''} in ${seconds.toFixed(1)} s`);
        if (modelfile) print(`wrote ${modelfile}`);
        return 0;
      } finally {
        model.dispose();
      }
    } finally {
      rt.dispose();
    }
  },
};
