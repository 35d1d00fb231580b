import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exampleTokenizerFiles, ModelFileError } from '@kvant/formats';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer } from './tokenizer';
import { charToToken } from './tokenizer-offsets';

const dir = mkdtempSync(join(tmpdir(), 'kvant-tokenizer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { files, specialIds } = exampleTokenizerFiles(1024);
const json = files['tokenizer.json'] as never;
const config = files['tokenizer_config.json'] as never;

describe('Tokenizer', () => {
  const tok = Tokenizer.fromObjects(json, config);

  it('adds BOS by the post-processor, and not with addSpecialTokens false', () => {
    const ids = tok.encode('Hello world');
    expect(ids[0]).toBe(specialIds['<|begin_of_text|>']);
    expect(tok.encode('Hello world', { addSpecialTokens: false })).toEqual(ids.slice(1));
  });

  it('keeps special tokens in text as one id, and decodes with and without them', () => {
    const ids = tok.encode('hi<|im_end|>');
    expect(ids.at(-1)).toBe(specialIds['<|im_end|>']);
    expect(tok.decode(ids)).toBe('<|begin_of_text|>hi<|im_end|>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('hi');
    expect(tok.decode([])).toBe('');
  });

  it('reads special tokens from tokenizer_config.json, adding ones tokenizer.json lacks', () => {
    expect(tok.bosTokenId).toBe(specialIds['<|begin_of_text|>']);
    expect(tok.eosToken).toBe('<|im_end|>');
    expect(tok.padTokenId).toBe(specialIds['<|end_of_text|>']);
    const extra = Tokenizer.fromObjects(json, { ...(config as object), unk_token: { content: '<unk>', special: true } });
    expect(extra.specialId('unk_token')).toBe(1024);
    expect(extra.encode('a<unk>b', { addSpecialTokens: false })).toContain(1024);
  });

  it('gives offsets that spell the text, also inside multi-byte characters', () => {
    const text = 'Héllo 你好 🤖<|im_end|>!';
    const { ids, offsets } = tok.encodeWithOffsets(text, { addSpecialTokens: false });
    expect(ids).toEqual(tok.encode(text, { addSpecialTokens: false }));
    expect(offsets[0][0]).toBe(0);
    expect(offsets.at(-1)![1]).toBe(text.length);
    const end = text.indexOf('<|im_end|>');
    expect(ids[charToToken(offsets, end)!]).toBe(specialIds['<|im_end|>']);
  });

  it('refuses a missing or malformed tokenizer.json naming the file', async () => {
    await expect(Tokenizer.fromFolder(join(dir, 'nothing'))).rejects.toThrow(ModelFileError);
    await expect(Tokenizer.fromFolder(join(dir, 'nothing'))).rejects.toThrow(/nothing\/tokenizer\.json/);
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'tokenizer.json'), '{"model": {"type": "BPE"}, "model": 1}');
    await expect(Tokenizer.fromFolder(bad)).rejects.toThrow(/bad\/tokenizer\.json.*each key once/);
    writeFileSync(join(bad, 'tokenizer.json'), '{"version": "1.0"}');
    await expect(Tokenizer.fromFolder(bad)).rejects.toThrow(/"model" object/);
  });
});
