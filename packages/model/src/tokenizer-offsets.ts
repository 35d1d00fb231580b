/**
 * Character offsets of tokens, which `@huggingface/tokenizers` does not return: each token is spelled
 * back as bytes (byte-level tokens through GPT-2's byte-to-unicode map; SentencePiece-style tokens
 * with `▁` as a space and `<0xNN>` as one byte; added tokens as their content) and aligned with the
 * UTF-8 bytes of the text. A space the tokenizer added (a Metaspace prefix) that the text lacks is
 * skipped. Used for `{% generation %}` masks, where transformers reads `char_to_token`.
 */
import { FormatError } from '@kvant/abi';
import type { JsonValue } from '@kvant/formats';

let byteOfChar: Map<string, number> | undefined;

/** The inverse of GPT-2's bytes_to_unicode. */
function byteLevelMap(): Map<string, number> {
  if (byteOfChar) return byteOfChar;
  const printable = new Set<number>();
  for (let b = 33; b <= 126; b++) printable.add(b);
  for (let b = 161; b <= 172; b++) printable.add(b);
  for (let b = 174; b <= 255; b++) printable.add(b);
  byteOfChar = new Map();
  let extra = 0;
  for (let b = 0; b < 256; b++) byteOfChar.set(printable.has(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++), b);
  return byteOfChar;
}

function usesByteLevel(json: Record<string, JsonValue>): boolean {
  const has = (c: JsonValue | undefined): boolean => {
    if (!c || typeof c !== 'object' || Array.isArray(c)) return false;
    if (c.type === 'ByteLevel') return true;
    const list = (c.pretokenizers ?? c.decoders ?? c.processors) as JsonValue[] | undefined;
    return Array.isArray(list) && list.some(has);
  };
  return has(json.pre_tokenizer) || has(json.decoder);
}

/** The bytes a model token stands for. */
function tokenBytes(token: string, byteLevel: boolean, prefix: string | undefined): number[] {
  const enc = new TextEncoder();
  if (byteLevel) {
    const map = byteLevelMap();
    const out: number[] = [];
    for (const ch of token) {
      const b = map.get(ch);
      if (b === undefined) out.push(...enc.encode(ch));
      else out.push(b);
    }
    return out;
  }
  const fallback = /^<0x([0-9A-Fa-f]{2})>$/.exec(token);
  if (fallback) return [Number.parseInt(fallback[1], 16)];
  let t = token.replaceAll('\u2581', ' ');
  if (prefix && t.startsWith(prefix)) t = t.slice(prefix.length);
  return [...enc.encode(t)];
}

/**
 * The `[start, end)` UTF-16 span in `text` of each token (`[0, 0]` for a token the post-processor added).
 * Throws a FormatError when the tokens do not spell the text (a normalizer that rewrites it).
 */
export function tokenOffsets(
  text: string,
  tokens: readonly string[],
  ids: readonly number[],
  json: Record<string, JsonValue>,
  addedContent: (id: number) => string | undefined,
  source: string,
): [number, number][] {
  const byteLevel = usesByteLevel(json);
  const model = json.model as Record<string, JsonValue>;
  const prefix = typeof model.continuing_subword_prefix === 'string' ? model.continuing_subword_prefix : undefined;
  // UTF-8 bytes of the text and the UTF-16 index where each byte's character starts.
  const bytes: number[] = [];
  const charAt: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const len = cp > 0xffff ? 2 : 1;
    for (const b of enc.encode(text.slice(i, i + len))) {
      bytes.push(b);
      charAt.push(i);
    }
    i += len;
  }
  charAt.push(text.length);
  let pos = 0; // byte cursor
  const offsets: [number, number][] = [];
  for (let k = 0; k < tokens.length; k++) {
    const content = addedContent(ids[k]);
    if (content !== undefined) {
      // An added token: found at the cursor, or after whitespace its lstrip/rstrip removed; else the post-processor added it.
      const from = charAt[Math.min(pos, bytes.length)];
      const at = text.indexOf(content, from);
      if (at >= 0 && text.slice(from, at).trim() === '') {
        offsets.push([at, at + content.length]);
        pos = charAt.findIndex((c, b) => b >= pos && c >= at + content.length);
        if (pos < 0) pos = bytes.length;
        continue;
      }
      offsets.push([0, 0]);
      continue;
    }
    const tb = tokenBytes(tokens[k], byteLevel, prefix);
    let start = -1;
    for (const b of tb) {
      if (pos < bytes.length && bytes[pos] === b) {
        if (start < 0) start = pos;
        pos++;
      } else if (b === 0x20) {
        // a space the tokenizer added (prefix space) that the text lacks
      } else {
        throw new FormatError(
          `${source}/tokenizer.json`,
          'tokens that spell the text byte for byte (needed for character offsets, e.g. {% generation %} masks)',
          `token ${JSON.stringify(tokens[k])} at byte ${pos} of the text (a normalizer that rewrites the text is not supported here)`,
        );
      }
    }
    if (start < 0) offsets.push([charAt[pos], charAt[pos]]);
    else {
      // The end is the next character boundary (a token may end inside a multi-byte character).
      let q = pos;
      while (q < bytes.length && charAt[q] === charAt[pos - 1]) q++;
      offsets.push([charAt[start], charAt[q]]);
    }
  }
  return offsets;
}

/** The index of the first token whose span contains character `char` (transformers' `char_to_token`), or undefined. */
export function charToToken(offsets: readonly (readonly [number, number])[], char: number): number | undefined {
  for (let k = 0; k < offsets.length; k++) if (offsets[k][0] <= char && char < offsets[k][1]) return k;
  return undefined;
}
