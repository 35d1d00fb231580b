import { describe, expect, it } from 'vitest';
import { parseStrictJson, StrictJsonError } from './strict-json';

describe('parseStrictJson', () => {
  it('parses what JSON.parse parses', () => {
    for (const text of ['{}', '[]', ' {"a": [1, -2.5e3, true, false, null, "x\\u00e9\\n\\"q\\""], "b": {"c": {}}} ', '"s"', '0', '-0.5']) {
      expect(parseStrictJson(text)).toEqual(JSON.parse(text));
    }
  });

  it('rejects a repeated key at any depth, with its position', () => {
    const err = (() => {
      try {
        parseStrictJson('{"a": {"x": 1, "x": 2}}');
      } catch (e) {
        return e;
      }
    })() as StrictJsonError;
    expect(err).toBeInstanceOf(StrictJsonError);
    expect(err.kind).toBe('duplicate-key');
    expect(err.position).toBe(15);
    expect(err.message).toContain('"x"');
  });

  it('rejects what JSON.parse rejects', () => {
    for (const text of ['', '{', '{"a" 1}', '{"a": 1,}', '[1,]', '01', '"\u0001"', '"\\x"', '"abc', 'nul', '{} x', 'NaN', "{'a': 1}"]) {
      expect(() => JSON.parse(text), text).toThrow();
      expect(() => parseStrictJson(text), text).toThrow(StrictJsonError);
    }
  });
});
