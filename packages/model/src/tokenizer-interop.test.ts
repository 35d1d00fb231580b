/**
 * Tokenization against Python: kvant's Tokenizer (tokenizers.js + tokenizer_config.json rules)
 * gives the ids of the `tokenizers` library and of transformers' `tokenizer(text)`, and transformers'
 * decode, on mixed-script text, for the example tokenizer and for a byte-level BPE trained and saved
 * by `tokenizers` itself. Needs python3 with tokenizers and transformers; skipped locally without
 * them, a failure in CI.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exampleTokenizerFiles } from '@kvant/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
if (!env.ok && !inCi) console.warn(`tokenizer interop tests skipped: python3 with tokenizers and transformers is not available (${env.reason})`);

/** Latin with accents, CJK, emoji (with ZWJ sequences), other scripts, whitespace runs, special tokens inside text. */
export const MIXED_TEXTS = [
  'Héllo wörld — 你好，世界！ 🤖🎉 naïve café, Ünïcödé façade; Ελληνικά, русский, العربية, हिन्दी, 日本語のテキスト。',
  'emoji 👩‍👩‍👧‍👦 and flags 🇫🇷🇯🇵 and skin 👍🏽; numbers 1234567 and 3.14159',
  '  leading spaces\n\ttabs and\r\nnewlines   trailing  ',
  'special <|im_start|>user\nhi<|im_end|> <s>inside</s> text <|end_of_text|>',
];

const CORPUS = [
  'The quick brown fox jumps over the lazy dog. Café naïve façade résumé.',
  '你好，世界！我们在学习语言模型。日本語のテキストも少しあります。',
  'Emoji 🤖🎉👍 are bytes too; Ελληνικά και русский текст.',
  'Low-rank adapters train two thin matrices; NF4 stores sixteen levels per weight.',
];

describe.skipIf(!env.ok && !inCi)('tokenization matches tokenizers and transformers', () => {
  let dir: string;
  let expected: Record<string, { tokenizers: number[]; transformers: number[]; transformers_plain: number[]; decode: string; decode_skip: string }[]>;
  beforeAll(() => {
    if (!env.ok) throw new Error(`CI requires python3 with tokenizers and transformers: ${env.reason}`);
    dir = mkdtempSync(join(tmpdir(), 'kvant-tok-'));
    const ex = join(dir, 'example');
    mkdirSync(ex);
    for (const [f, v] of Object.entries(exampleTokenizerFiles(1024).files)) writeFileSync(join(ex, f), JSON.stringify(v));
    const bpe = join(dir, 'bpe');
    mkdirSync(bpe);
    py(['build-bpe', bpe], { corpus: CORPUS });
    // transformers 5 ignores add_bos_token / add_eos_token when tokenizer.json exists: the ByteLevel post-processor adds nothing.
    writeFileSync(join(bpe, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', add_bos_token: true, add_eos_token: true, tokenizer_class: 'PreTrainedTokenizerFast' }));
    expected = py(['encode'], { dirs: [ex, bpe], texts: MIXED_TEXTS });
  }, 300_000);
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it.each(['example', 'bpe'])('%s tokenizer', async (name) => {
    const d = join(dir, name);
    const tok = await Tokenizer.fromFolder(d);
    MIXED_TEXTS.forEach((text, i) => {
      const e = expected[d][i];
      expect(tok.encode(text, { addSpecialTokens: false }), `tokenizers, text ${i}`).toEqual(e.tokenizers);
      expect(tok.encode(text, { addSpecialTokens: false }), `transformers add_special_tokens=False, text ${i}`).toEqual(e.transformers_plain);
      const ids = tok.encode(text);
      expect(ids, `transformers tokenizer(text), text ${i}`).toEqual(e.transformers);
      expect(tok.decode(ids), `decode, text ${i}`).toBe(e.decode);
      expect(tok.decode(ids, { skipSpecialTokens: true }), `decode skip_special_tokens, text ${i}`).toBe(e.decode_skip);
    });
  });
});
