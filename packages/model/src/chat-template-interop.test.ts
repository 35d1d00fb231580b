/**
 * Chat templates against transformers' `apply_chat_template(messages, tokenize=False,
 * add_generation_prompt=…)`: Llama-3-, Mistral-, Qwen2- and Phi-3-style templates (short versions
 * written from each family's public format), a multi-line template that leans on trim_blocks and
 * lstrip_blocks, named templates, raise_exception, and `{% generation %}` assistant masks against
 * `return_assistant_tokens_mask=True`. Needs python3 with transformers; skipped locally without it,
 * a failure in CI.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exampleTokenizerFiles } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChatTemplate, type ChatMessage, ChatTemplateError, loadChatTemplates, selectChatTemplate } from './chat-template';
import { Tokenizer } from './tokenizer';

const SCRIPT = fileURLToPath(new URL('../../../scripts/interop/tokenizer_interop.py', import.meta.url));
const py = <T>(args: string[], input: unknown): T =>
  JSON.parse(execFileSync('python3', [SCRIPT, ...args], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['pipe', 'pipe', 'pipe'], timeout: 300_000 }));
const env: { ok: true } | { ok: false; reason: string } = (() => {
  try {
    py(['check'], {});
    return { ok: true };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { ok: false, reason: (err.stderr || err.message).trim().split('\n').slice(-1)[0] };
  }
})();
const inCi = Boolean(process.env.CI);
if (!env.ok && !inCi) console.warn(`chat template interop tests skipped: python3 with transformers is not available (${env.reason})`);

/** Llama 3: header tokens, trimmed content, BOS prepended to the first message. */
const LLAMA3 =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
/** Mistral: [INST] … [/INST], alternation enforced with raise_exception, EOS after replies. */
const MISTRAL =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
/** Qwen2: ChatML with a default system prompt, no BOS. */
const QWEN2 =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
/** Phi-3: <|user|> / <|assistant|> / <|end|>, EOS when no generation prompt. */
const PHI3 =
  "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";
/** Multi-line, indented: only right with trim_blocks and lstrip_blocks; generation blocks around replies. */
const MULTILINE = `{%- for message in messages %}
    {%- if message.role == 'assistant' %}
<|im_start|>assistant
{% generation %}{{ message.content }}<|im_end|>{% endgeneration %}

    {%- else %}
<|im_start|>{{ message.role }}
{{ message.content }}<|im_end|>
    {% endif %}
{%- endfor %}
{%- if add_generation_prompt %}
<|im_start|>assistant
{% endif %}
`;
const CHATML_GEN =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const FAMILIES: Record<string, { template: string | { name: string; template: string }[]; config: Record<string, unknown> }> = {
  llama3: { template: LLAMA3, config: { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' } },
  mistral: { template: MISTRAL, config: { bos_token: '<s>', eos_token: '</s>' } },
  qwen2: { template: QWEN2, config: { bos_token: null, eos_token: '<|im_end|>', pad_token: '<|endoftext|>' } },
  phi3: { template: PHI3, config: { bos_token: '<s>', eos_token: '<|endoftext|>' } },
  multiline: { template: MULTILINE, config: { bos_token: '<|begin_of_text|>', eos_token: '<|im_end|>' } },
  named: {
    template: [
      { name: 'default', template: QWEN2 },
      { name: 'tool_use', template: PHI3 },
    ],
    config: { eos_token: '<|im_end|>' },
  },
  generation: { template: CHATML_GEN, config: {} },
};

const CONVERSATIONS: ChatMessage[][] = [
  [{ role: 'user', content: 'What is the capital of France?' }],
  [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: '  Héllo, 你好 🤖  ' },
    { role: 'assistant', content: 'Hi! 👋' },
    { role: 'user', content: 'Two plus two?' },
    { role: 'assistant', content: 'Four.' },
  ],
  [
    { role: 'user', content: 'Write a line about the sea.' },
    { role: 'assistant', content: 'The sea is wide and deep and blue.' },
  ],
];

interface Case {
  messages: ChatMessage[];
  add_generation_prompt: boolean;
  assistant_mask?: boolean;
}
const casesFor = (family: string): Case[] =>
  CONVERSATIONS.flatMap((messages) => [false, true].map((g) => ({ messages, add_generation_prompt: g, assistant_mask: family === 'generation' || family === 'multiline' })));

describe.skipIf(!env.ok && !inCi)('chat templates render as transformers apply_chat_template', () => {
  let dir: string;
  let expected: Record<string, ({ text: string; ids?: number[]; assistant_masks?: number[] } | { error: string })[]>;
  beforeAll(() => {
    if (!env.ok) throw new Error(`CI requires python3 with transformers: ${env.reason}`);
    dir = mkdtempSync(join(tmpdir(), 'kvant-tpl-'));
    const { files } = exampleTokenizerFiles(1024);
    const request: Record<string, Case[]> = {};
    for (const [family, { template, config }] of Object.entries(FAMILIES)) {
      const d = join(dir, family);
      mkdirSync(d);
      writeFileSync(join(d, 'tokenizer.json'), JSON.stringify(files['tokenizer.json']));
      const base = files['tokenizer_config.json'] as Record<string, unknown>;
      const cfg: Record<string, unknown> = { ...base, ...config, chat_template: template };
      for (const [k, v] of Object.entries(cfg)) if (v === null) delete cfg[k];
      writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify(cfg));
      request[d] = casesFor(family);
    }
    expected = py(['template', '-'], { dirs: request });
  }, 300_000);
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it.each(Object.keys(FAMILIES))('%s-style template', async (family) => {
    const d = join(dir, family);
    const tokenizer = await Tokenizer.fromFolder(d);
    const template = selectChatTemplate(await loadChatTemplates(d, tokenizer.config), d);
    casesFor(family).forEach((c, i) => {
      const want = expected[d][i];
      const label = `conversation ${Math.floor(i / 2)}, add_generation_prompt=${c.add_generation_prompt}`;
      if ('error' in want) {
        expect(() => template.render(c.messages, tokenizer.specialTokens, { addGenerationPrompt: c.add_generation_prompt }), label).toThrow(ChatTemplateError);
        expect(() => template.render(c.messages, tokenizer.specialTokens, { addGenerationPrompt: c.add_generation_prompt }), label).toThrow(want.error);
        return;
      }
      const got = applyChatTemplate(tokenizer, template, c.messages, { addGenerationPrompt: c.add_generation_prompt, returnAssistantTokensMask: c.assistant_mask });
      expect(got.text, label).toBe(want.text);
      if (c.assistant_mask) {
        expect(got.ids, label).toEqual(want.ids);
        expect(got.assistantMask, label).toEqual(want.assistant_masks);
        if (c.messages.some((m) => m.role === 'assistant')) expect(got.assistantMask, label).toContain(1);
      }
    });
    if (family === 'mistral') expect(expected[d].some((r) => 'error' in r)).toBe(true);
  });
});
