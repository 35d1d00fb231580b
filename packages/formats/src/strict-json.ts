/**
 * A strict JSON parser for file headers: JSON.parse semantics, except that a key repeated in one
 * object is an error (JSON.parse keeps the last one silently, which would let a lying header hide
 * a tensor) and the error says where, as a byte-free character position.
 */

/** A JSON text broke the grammar, or repeated a key. */
export class StrictJsonError extends Error {
  constructor(
    readonly kind: 'syntax' | 'duplicate-key' | 'non-integer',
    /** Character position in the text. */
    readonly position: number,
    readonly detail: string,
    /** Keys from the root to the value where the error is (for 'non-integer'). */
    readonly keyPath: readonly string[] = [],
  ) {
    super(`${detail} at position ${position}`);
  }
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Options of parseStrictJson. */
export interface StrictJsonOptions {
  /**
   * Refuse number literals with a fraction or an exponent (`2.0`, `1e3`): for formats whose numbers
   * are all integers, such as a safetensors header, as the reference library does.
   */
  readonly integersOnly?: boolean;
}

/** Parse `text` as JSON; throws StrictJsonError on bad syntax, a duplicate key, or (integersOnly) a non-integer literal. */
export function parseStrictJson(text: string, options: StrictJsonOptions = {}): JsonValue {
  let pos = 0;
  const keys: string[] = [];
  const fail = (detail: string): never => {
    throw new StrictJsonError('syntax', pos, detail);
  };
  const skipWs = () => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };
  const parseString = (): string => {
    // pos is at the opening quote: find the closing one (skipping escapes), then let JSON.parse
    // check the escapes and reject raw control characters.
    let end = pos + 1;
    while (end < text.length && text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c ? 2 : 1;
    if (end >= text.length) fail('unterminated string');
    let s: string;
    try {
      s = JSON.parse(text.slice(pos, end + 1)) as string;
    } catch {
      return fail('malformed string (bad escape or control character)');
    }
    pos = end + 1;
    return s;
  };
  const parseValue = (depth: number): JsonValue => {
    if (depth > 64) fail('nesting deeper than 64 levels');
    skipWs();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: { [key: string]: JsonValue } = Object.create(null);
      const seen = new Set<string>();
      skipWs();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        skipWs();
        if (text[pos] !== '"') fail('expected a string key');
        const keyPos = pos;
        const key = parseString();
        if (seen.has(key)) throw new StrictJsonError('duplicate-key', keyPos, `duplicate key ${JSON.stringify(key)}`);
        seen.add(key);
        skipWs();
        if (text[pos] !== ':') fail("expected ':'");
        pos++;
        keys.push(key);
        obj[key] = parseValue(depth + 1);
        keys.pop();
        skipWs();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      pos++;
      const arr: JsonValue[] = [];
      skipWs();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(parseValue(depth + 1));
        skipWs();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith('true', pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith('null', pos)) {
      pos += 4;
      return null;
    }
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (!m) return fail(pos >= text.length ? 'unexpected end of text' : `unexpected character ${JSON.stringify(c)}`);
    if (options.integersOnly && /[.eE]/.test(m[0])) throw new StrictJsonError('non-integer', pos, `the number literal ${m[0]} in ${keys.at(-1) ?? 'the root'}`, [...keys]);
    pos += m[0].length;
    return Number(m[0]);
  };
  const value = parseValue(0);
  skipWs();
  if (pos !== text.length) fail('unexpected text after the JSON value');
  return value;
}

/** True when `v` is a JSON object (not an array, not null). */
export function isJsonObject(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
