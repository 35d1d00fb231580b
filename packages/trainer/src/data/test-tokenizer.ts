/** Test helper: tokenizer folders written from the example tokenizer (ChatML), one with `{% generation %}` blocks. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exampleTokenizerFiles } from '@kvant/formats';
import { loadChatTokenizer } from '@kvant/model';

/** ChatML with BOS whose assistant replies (and their <|im_end|>) are generation blocks. */
export const GENERATION_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

let files: Record<string, unknown> | undefined;

/** Write a tokenizer folder into `dir`: the example tokenizer (vocab 1024), its config patched by `config`. */
export function writeTokenizerFolder(dir: string, config: Record<string, unknown> = {}): string {
  files ??= exampleTokenizerFiles(1024).files;
  mkdirSync(dir, { recursive: true });
  for (const [f, v] of Object.entries(files)) {
    const value = f === 'tokenizer_config.json' ? { ...(v as object), ...config } : v;
    writeFileSync(join(dir, f), JSON.stringify(value));
  }
  return dir;
}

/** Write and load (tokenizer and chat templates). */
export function tokenizerFolder(dir: string, config: Record<string, unknown> = {}) {
  return loadChatTokenizer(writeTokenizerFolder(dir, config));
}

/** Small records of every format. */
export const RECORDS = {
  text: [
    { text: 'The capital of France is Paris.' },
    { text: 'Two plus two is four.<|im_end|>' },
    { text: 'Kernels run on WebAssembly for any CPU, on WebGPU in a browser or in Node, and on CUDA for NVIDIA GPUs.' },
    { text: 'Hello, world. 你好 🤖 café' },
  ],
  messages: [
    {
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'What is the capital of France?' },
        { role: 'assistant', content: 'The capital of France is Paris.' },
      ],
    },
    {
      messages: [
        { role: 'user', content: 'What is two plus two?' },
        { role: 'assistant', content: 'Four.' },
        { role: 'user', content: 'And three plus three?' },
        { role: 'assistant', content: 'Six.' },
      ],
    },
    { messages: [{ role: 'user', content: 'Please write a short poem about the sea.' }, { role: 'assistant', content: 'The sea is wide and deep and blue.' }] },
  ],
  promptCompletion: [
    { prompt: 'What is the capital of France? ', completion: 'Paris.' },
    { prompt: 'Two plus two is', completion: ' four.' },
    { prompt: 'Once upon a time, a curious student', completion: ' opened a notebook.<|im_end|>' },
  ],
  promptCompletionChat: [
    { prompt: [{ role: 'user', content: 'What is the capital of France?' }], completion: [{ role: 'assistant', content: 'Paris.' }] },
    {
      prompt: [
        { role: 'system', content: 'Answer briefly.' },
        { role: 'user', content: 'What is two plus two?' },
      ],
      completion: [{ role: 'assistant', content: 'Four.' }],
    },
    { prompt: [{ role: 'user', content: 'Write a poem about the sea.' }], completion: [{ role: 'assistant', content: 'The sea is wide and deep and blue.' }] },
  ],
  tokenized: [
    { input_ids: [1020, 72, 73, 74, 75, 1023], completion_mask: [0, 0, 0, 1, 1, 1] },
    { input_ids: [1020, 80, 81, 82, 1023], completion_mask: [0, 0, 1, 1, 1] },
  ],
};
