/**
 * `kvant generate`: text from a local Hugging Face model folder (optionally with a PEFT adapter),
 * greedy by default, or sampled with temperature / top-k / top-p and a seed; the prompt goes through
 * the folder's chat template unless --raw; the text is streamed to stdout as it is generated.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, type Runtime } from '@kvant/abi';
import { applyChatTemplate, type ChatMessage, DECODER_FORWARD_KERNELS, Decoder, generate, loadChatTokenizer, selectChatTemplate } from '@kvant/model';
import { createRuntime, DEFAULT_RUNTIME, isRuntimeName, RUNTIME_NAMES } from '@kvant/runtimes';
import { type Command, intOption, parseCommandArgs, print, UsageError } from '../command';

const USAGE = `usage: kvant generate --model DIR [--adapter DIR] (--prompt TEXT | --messages FILE.json) [--raw]
                      [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
                      [--stop STRING]... [--runtime R] [--json]

Generates text with a local Hugging Face model (llama, mistral, qwen2, phi3), streaming it to stdout.

  --model DIR          the model folder (config.json, safetensors, tokenizer.json, tokenizer_config.json)
  --adapter DIR        a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors)
  --prompt TEXT        the user's message (through the chat template unless --raw)
  --messages FILE      a JSON list of {"role", "content"} messages, rendered with the chat template
  --raw                --prompt is the exact text to continue (tokenized with the tokenizer's BOS rule)
  --max-new-tokens N   default 64
  --temperature T      0 (the default) is greedy decoding
  --top-k K            keep the K most likely tokens (0, the default: off)
  --top-p P            nucleus sampling mass in (0, 1] (default 1: off)
  --seed S             seed of the sampling (default 0)
  --stop STRING        stop when the text contains STRING (repeatable); EOS always stops
  --runtime R          ${RUNTIME_NAMES.join(', ')} (default: ${DEFAULT_RUNTIME}, or reference when ${DEFAULT_RUNTIME} lacks a kernel the decoder needs)
  --json               print {"prompt_ids": [...], "token_ids": [...], "text": ...} instead of streaming

Generation re-runs the forward over the whole sequence for each token (no KV cache yet).
Exit status: 0 done, 1 a model, adapter or messages file was refused, 2 a usage error.`;

function numberOption(name: string, value: string | undefined, fallback: number, ok: (x: number) => boolean, expected: string): number {
  if (value === undefined) return fallback;
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new UsageError(`kvant generate --${name}`, expected, JSON.stringify(value));
  return x;
}

async function readMessages(path: string): Promise<ChatMessage[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`kvant generate --messages ${path}`, 'a readable JSON file', (e as Error).message);
  }
  if (!Array.isArray(json) || !json.every((m) => m && typeof m === 'object' && typeof m.role === 'string' && typeof m.content === 'string')) {
    throw new ConfigError(`kvant generate --messages ${path}`, 'a JSON list of {"role": string, "content": string}', JSON.stringify(json).slice(0, 80));
  }
  return json as ChatMessage[];
}

async function chooseRuntime(name: string | undefined): Promise<Runtime> {
  if (name !== undefined && !isRuntimeName(name)) throw new UsageError('kvant generate --runtime', `one of ${RUNTIME_NAMES.join(', ')}`, JSON.stringify(name));
  const candidates = name ? [name] : [DEFAULT_RUNTIME, 'reference'];
  let reason = '';
  for (const c of candidates) {
    const rt = await createRuntime(c);
    const missing = DECODER_FORWARD_KERNELS.map((k) => [k, rt.supports(k)] as const).find(([, s]) => s !== true);
    if (!missing) return rt;
    reason = `${c} cannot run ${missing[0]}: ${missing[1]}`;
    rt.dispose();
    if (!name) process.stderr.write(`kvant generate: ${reason}; using the reference runtime\n`);
  }
  throw new ConfigError('kvant generate --runtime', 'a runtime with every kernel the decoder uses', reason);
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate text with a model folder (and a LoRA adapter), greedy or sampled',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('generate', argv, {
      model: { type: 'string' },
      adapter: { type: 'string' },
      prompt: { type: 'string' },
      messages: { type: 'string' },
      raw: { type: 'boolean' },
      'max-new-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      stop: { type: 'string', multiple: true },
      runtime: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (values.help) {
      print(USAGE);
      return 0;
    }
    if (positionals.length) throw new UsageError('kvant generate', 'no positional arguments (use --model and --prompt)', JSON.stringify(positionals[0]));
    if (!values.model) throw new UsageError('kvant generate', '--model DIR', 'none');
    if ((values.prompt === undefined) === (values.messages === undefined)) throw new UsageError('kvant generate', 'exactly one of --prompt and --messages', values.prompt === undefined ? 'neither' : 'both');
    if (values.raw && values.messages !== undefined) throw new UsageError('kvant generate --raw', '--prompt (--messages always uses the chat template)', '--messages');
    const maxNewTokens = intOption('generate', 'max-new-tokens', values['max-new-tokens'], 64, 0);
    const temperature = numberOption('temperature', values.temperature, 0, (x) => x >= 0, 'a number >= 0 (0: greedy)');
    const topK = intOption('generate', 'top-k', values['top-k'], 0, 0);
    const topP = numberOption('top-p', values['top-p'], 1, (x) => x > 0 && x <= 1, 'a number in (0, 1]');
    const seed = intOption('generate', 'seed', values.seed, 0, 0, 2 ** 32 - 1);

    const { tokenizer, chatTemplates } = await loadChatTokenizer(values.model);
    let promptIds: number[];
    if (values.raw) promptIds = tokenizer.encode(values.prompt!);
    else {
      const messages = values.messages !== undefined ? await readMessages(values.messages) : [{ role: 'user', content: values.prompt! }];
      const template = selectChatTemplate(chatTemplates, `${values.model}/tokenizer_config.json`);
      promptIds = applyChatTemplate(tokenizer, template, messages, { addGenerationPrompt: true }).ids;
    }
    const rt = await chooseRuntime(values.runtime);
    try {
      const model = await Decoder.fromFolder(rt, values.model);
      if (values.adapter) await model.loadAdapter(values.adapter);
      const eos = new Set(model.config.eosTokenIds);
      if (tokenizer.eosTokenId !== undefined) eos.add(tokenizer.eosTokenId);
      const result = await generate(model, promptIds, {
        maxNewTokens,
        temperature,
        topK,
        topP,
        seed,
        eosTokenIds: [...eos],
        stopStrings: values.stop ?? [],
        decode: (ids) => tokenizer.decode(ids, { skipSpecialTokens: true }),
        onText: values.json ? undefined : (piece) => process.stdout.write(piece),
      });
      if (values.json) print(JSON.stringify({ prompt_ids: promptIds, token_ids: result.tokenIds, text: result.text, finish_reason: result.finishReason }));
      else print();
      model.dispose();
      return 0;
    } finally {
      rt.dispose();
    }
  },
};
