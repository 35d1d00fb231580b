/**
 * `kvant generate`: text from a local Hugging Face model folder (optionally with a PEFT adapter),
 * greedy by default, or sampled with temperature / top-k / top-p and a seed; the prompt goes through
 * the folder's chat template unless --raw; the text is streamed to stdout as it is generated.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '@kvant/abi';
import { applyChatTemplate, type ChatMessage, generate, loadChatTokenizer, selectChatTemplate } from '@kvant/model';
import { type Command, parseCommandArgs, print, UsageError } from '../command';
import { chooseRuntime, GENERATION_FLAGS, loadModel, parseSampling, samplingUsage } from './generation-options';

const USAGE = `usage: kvant generate --model DIR [--adapter DIR] (--prompt TEXT | --messages FILE.json) [--raw]
                      [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
                      [--stop STRING]... [--runtime R] [--json]

Generates text with a local Hugging Face model (llama, mistral, qwen2, phi3), streaming it to stdout.

  --model DIR          the model folder (config.json, safetensors, tokenizer.json, tokenizer_config.json)
  --adapter DIR        a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors)
  --prompt TEXT        the user's message (through the chat template unless --raw)
  --messages FILE      a JSON list of {"role", "content"} messages, rendered with the chat template
  --raw                --prompt is the exact text to continue (tokenized with the tokenizer's BOS rule)
${samplingUsage(64)}
  --stop STRING        stop when the text contains STRING (repeatable); EOS always stops
  --json               print {"prompt_ids": [...], "token_ids": [...], "text": ..., "timing": {...}} instead of streaming

Generation keeps a KV cache: the prompt runs once, then one token per step.
Exit status: 0 done, 1 a model, adapter or messages file was refused, 2 a usage error.`;

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

/** How long a generation took: the prompt and first token together, then the rest per token. */
export interface GenerationTiming {
  readonly prompt_tokens: number;
  readonly tokens: number;
  /** From the start to the first new token: the prompt's forward pass and one sampling step. */
  readonly first_token_ms: number;
  readonly seconds: number;
  /** New tokens after the first, per second of the time after it (null with fewer than 2 tokens). */
  readonly tokens_per_second: number | null;
}

export function generationTiming(promptTokens: number, tokens: number, started: number, firstAt: number | undefined, ended: number): GenerationTiming {
  const first = (firstAt ?? ended) - started;
  const rest = ended - (firstAt ?? ended);
  return {
    prompt_tokens: promptTokens,
    tokens,
    first_token_ms: Math.round(first * 10) / 10,
    seconds: Math.round(ended - started) / 1000,
    tokens_per_second: tokens > 1 && rest > 0 ? Math.round(((tokens - 1) / rest) * 1e4) / 10 : null,
  };
}

/** The line `kvant generate` writes to stderr after the text. */
export function timingLine(t: GenerationTiming, runtime: string): string {
  const rate = t.tokens_per_second === null ? '' : `, then ${t.tokens_per_second} tokens/s`;
  return `${t.tokens} token${t.tokens === 1 ? '' : 's'} in ${t.seconds.toFixed(2)} s on ${runtime}: the prompt (${t.prompt_tokens} tokens) and the first token in ${t.first_token_ms} ms${rate}`;
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'generate text with a model folder (and a LoRA adapter), greedy or sampled',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs('generate', argv, {
      ...GENERATION_FLAGS,
      prompt: { type: 'string' },
      messages: { type: 'string' },
      raw: { type: 'boolean' },
      stop: { type: 'string', multiple: true },
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
    const sampling = parseSampling('generate', values, 64);

    const { tokenizer, chatTemplates } = await loadChatTokenizer(values.model);
    let promptIds: number[];
    if (values.raw) promptIds = tokenizer.encode(values.prompt!);
    else {
      const messages = values.messages !== undefined ? await readMessages(values.messages) : [{ role: 'user', content: values.prompt! }];
      const template = selectChatTemplate(chatTemplates, `${values.model}/tokenizer_config.json`);
      promptIds = applyChatTemplate(tokenizer, template, messages, { addGenerationPrompt: true }).ids;
    }
    const rt = await chooseRuntime('generate', values.runtime);
    try {
      const { model, eosTokenIds } = await loadModel(rt, values.model, values.adapter, tokenizer);
      const started = performance.now();
      let firstAt: number | undefined;
      const result = await generate(model, promptIds, {
        onToken: () => {
          firstAt ??= performance.now();
        },
        ...sampling,
        eosTokenIds,
        stopStrings: values.stop ?? [],
        decode: (ids) => tokenizer.decode(ids, { skipSpecialTokens: true }),
        onText: values.json ? undefined : (piece) => process.stdout.write(piece),
      });
      const timing = generationTiming(promptIds.length, result.tokenIds.length, started, firstAt, performance.now());
      if (values.json) print(JSON.stringify({ prompt_ids: promptIds, token_ids: result.tokenIds, text: result.text, finish_reason: result.finishReason, timing }));
      else {
        print();
        process.stderr.write(`${timingLine(timing, rt.info().description)}\n`);
      }
      model.dispose();
      return 0;
    } finally {
      rt.dispose();
    }
  },
};
