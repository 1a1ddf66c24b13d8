/**
 * JSON text for a value of any depth. V8's JSON.parse reads any depth, but JSON.stringify
 * recurses and throws RangeError a few thousand levels down (Node 24: between 2,000 and
 * 5,000), while Go's decoder takes 10,000: a delegate must still get such a config.
 */

/** JSON.stringify(value), or the same text built without recursion when that overflows. */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    return stringifyIteratively(value);
  }
}

/**
 * Indented JSON for files people read (a wrapped conflist), or — for a value too deep for
 * JSON.stringify's recursion, which no one reads by eye — the same data as compact text.
 */
export function prettyJson(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    return stringifyIteratively(value);
  }
}

type Frame = { readonly arr: readonly unknown[]; i: number } | { readonly obj: Record<string, unknown>; readonly keys: string[]; i: number; wrote: boolean };

function isContainer(v: unknown): v is object {
  return v !== null && typeof v === 'object';
}

/** The text JSON.stringify gives for plain data (no toJSON, no cycles), with its own stack. */
export function stringifyIteratively(root: unknown): string {
  if (!isContainer(root)) return JSON.stringify(root);
  const out: string[] = [];
  const stack: Frame[] = [];
  const open = (v: object): void => {
    if (Array.isArray(v)) {
      out.push('[');
      stack.push({ arr: v, i: 0 });
    } else {
      out.push('{');
      stack.push({ obj: v as Record<string, unknown>, keys: Object.keys(v), i: 0, wrote: false });
    }
  };
  open(root);
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if ('arr' in f) {
      if (f.i === f.arr.length) { out.push(']'); stack.pop(); continue; }
      if (f.i > 0) out.push(',');
      const v = f.arr[f.i++];
      if (isContainer(v)) open(v);
      else out.push(JSON.stringify(v) ?? 'null');
    } else {
      if (f.i === f.keys.length) { out.push('}'); stack.pop(); continue; }
      const k = f.keys[f.i++]!;
      const v = f.obj[k];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      if (f.wrote) out.push(',');
      f.wrote = true;
      out.push(JSON.stringify(k), ':');
      if (isContainer(v)) open(v);
      else out.push(JSON.stringify(v));
    }
  }
  return out.join('');
}
