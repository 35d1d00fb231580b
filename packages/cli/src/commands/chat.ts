/**
 * `kvant chat`: an interactive conversation with a local Hugging Face model folder (optionally with
 * a PEFT adapter) in the terminal. Each line read is a user message; the whole conversation so far
 * (the --system message first, when given) goes through the folder's chat template with the
 * generation prompt, and the reply is streamed to stdout as it is generated (with the KV cache),
 * then kept in the history. `/exit`, Ctrl-D or the end of piped input ends it.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { applyChatTemplate, type ChatMessage, generate, loadChatTokenizer, selectChatTemplate } from '@kvant/model';
import { type Command, parseCommandArgs, print, UsageError } from '../command';
import { chooseRuntime, GENERATION_FLAGS, loadModel, parseSampling, samplingUsage } from './generation-options';

const USAGE = `usage: kvant chat --model DIR [--adapter DIR] [--system TEXT] [--max-new-tokens N]
                  [--temperature T] [--top-k K] [--top-p P] [--seed S] [--runtime R]

An interactive conversation with a local Hugging Face model (llama, mistral, qwen2, phi3) through its
chat template: type a message and press Enter; the reply is streamed. /exit or Ctrl-D ends it.
Reads lines from stdin, so a conversation can also be piped in (one user message per line).

  --model DIR          the model folder (config.json, safetensors, tokenizer.json, tokenizer_config.json)
  --adapter DIR        a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors)
  --system TEXT        a system message before the conversation
${samplingUsage(256)}
                       (turn n samples with seed S + n, so turns differ and a session is reproducible)

Exit status: 0 done, 1 a model or adapter was refused, 2 a usage error.`;

/** Where a chat reads lines and writes replies (the terminal, or streams in tests). */
export interface ChatIo {
  readonly input: Readable;
  readonly output: Writable;
  /** Show a "> " prompt before each line (default: when input is a terminal). */
  readonly prompt?: boolean;
}

/** Run `kvant chat` over the given streams; resolves to the exit code. */
export async function runChat(argv: string[], io: ChatIo): Promise<number> {
  const { values, positionals } = parseCommandArgs('chat', argv, { ...GENERATION_FLAGS, system: { type: 'string' } });
  if (values.help) {
    print(USAGE);
    return 0;
  }
  if (positionals.length) throw new UsageError('kvant chat', 'no positional arguments (use --model)', JSON.stringify(positionals[0]));
  if (!values.model) throw new UsageError('kvant chat', '--model DIR', 'none');
  const sampling = parseSampling('chat', values, 256);
  const { tokenizer, chatTemplates } = await loadChatTokenizer(values.model);
  const template = selectChatTemplate(chatTemplates, `${values.model}/tokenizer_config.json`);
  const rt = await chooseRuntime('chat', values.runtime);
  const out = (text: string) => io.output.write(text);
  const showPrompt = io.prompt ?? Boolean((io.input as { isTTY?: boolean }).isTTY);
  let rl: ReturnType<typeof createInterface> | undefined;
  try {
    const { model, eosTokenIds } = await loadModel(rt, values.model, values.adapter, tokenizer);
    // Read lines only once the model is loaded: a line that arrived before its reader would be lost.
    rl = createInterface({ input: io.input, output: showPrompt ? io.output : undefined, terminal: showPrompt });
    const history: ChatMessage[] = values.system !== undefined ? [{ role: 'system', content: values.system }] : [];
    let turn = 0;
    rl.setPrompt('> ');
    if (showPrompt) rl.prompt();
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === '/exit') break;
      if (line !== '') {
        history.push({ role: 'user', content: line });
        const promptIds = applyChatTemplate(tokenizer, template, history, { addGenerationPrompt: true }).ids;
        const result = await generate(model, promptIds, {
          ...sampling,
          seed: (sampling.seed + turn) >>> 0,
          eosTokenIds,
          decode: (ids) => tokenizer.decode(ids, { skipSpecialTokens: true }),
          onText: out,
        });
        out('\n');
        history.push({ role: 'assistant', content: result.text ?? '' });
        turn++;
      }
      if (showPrompt) rl.prompt();
    }
    model.dispose();
    return 0;
  } finally {
    rl?.close();
    rt.dispose();
  }
}

export const chatCommand: Command = {
  name: 'chat',
  summary: 'an interactive conversation with a model folder (and a LoRA adapter) through its chat template',
  usage: USAGE,
  run: (argv) => runChat(argv, { input: process.stdin, output: process.stdout }),
};
