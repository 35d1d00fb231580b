/**
 * JSON as Python's `json.dumps` writes it with default arguments (`", "` and `": "` separators,
 * floats in `repr` form), so the bytes kvant writes for `quant_state` match bitsandbytes'.
 */

/**
 * Python's repr of a float: the shortest digits that round-trip (the same digits JavaScript
 * prints), in fixed notation when -4 <= exponent < 16, else as `1.5e-05` / `1e+16`.
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e');
  const e10 = Number(expText);
  if (e10 < -4 || e10 >= 16) return `${mantissa}e${e10 < 0 ? '-' : '+'}${String(Math.abs(e10)).padStart(2, '0')}`;
  const sign = x < 0 ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (e10 < 0) return `${sign}0.${'0'.repeat(-e10 - 1)}${digits}`;
  const intLen = e10 + 1;
  if (digits.length <= intLen) return `${sign}${digits.padEnd(intLen, '0')}.0`;
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
}

export type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue } | PyFloat;

/** A number that must be written as a Python float even when integral (e.g. 6.0). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/**
 * `json.dumps(value)` with Python's defaults, or `json.dumps(value, indent=n)` when `indent` is
 * given. Plain integers stay integers; PyFloat and non-integers print as floats.
 */
export function pythonJsonDumps(v: PyValue, indent?: number, depth = 0): string {
  if (v === null) return 'null';
  if (v instanceof PyFloat) return pythonFloatRepr(v.value);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : pythonFloatRepr(v);
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const items = Array.isArray(v)
    ? v.map((x) => pythonJsonDumps(x, indent, depth + 1))
    : Object.entries(v).map(([k, x]) => `${pythonJsonDumps(k)}: ${pythonJsonDumps(x, indent, depth + 1)}`);
  const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
  if (indent === undefined) return `${open}${items.join(', ')}${close}`;
  if (!items.length) return `${open}${close}`;
  const pad = ' '.repeat(indent * (depth + 1));
  return `${open}\n${items.map((x) => pad + x).join(',\n')}\n${' '.repeat(indent * depth)}${close}`;
}
