/**
 * Go-compatible JSON (src/cni/go-json.ts) at its boundaries: a plugin error's `code` decodes
 * into Go's uint (uint64 on every platform libcni runs on) exactly when strconv.ParseUint
 * accepts it, and the reader's depth limit and depth pre-check sit exactly where Go's do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeSyntaxError, GO_MAX_DEPTH, goDecodeErrorStructError, goDepthError, goSyntaxError } from '../../src/cni/go-json.ts';

const refused = (raw: string): string => `json: cannot unmarshal number ${raw} into Go struct field Error.code of type uint`;

test('rule: a plugin error\'s code accepts every uint64 — 0, 1, 2^53, 2^63 and the largest, 2^64 − 1', () => {
  for (const raw of ['0', '1', '9007199254740992', '9007199254740993', '9223372036854775808', '18446744073709551614', '18446744073709551615']) {
    assert.equal(goDecodeErrorStructError(`{"code":${raw}}`), null, `code ${raw} is a uint64: Go decodes it`);
  }
});

test('rule: a plugin error\'s code refuses what is not a uint64 — 2^64, 2^64 + 1, longer, negative, fractional, exponent', () => {
  for (const raw of ['18446744073709551616', '18446744073709551617', '18446744073709551625', '28446744073709551615', '184467440737095516150', '99999999999999999999999', '-1', '-0', '0.0', '1.5', '1e2', '1E2', '0e0', '-18446744073709551615']) {
    assert.equal(goDecodeErrorStructError(`{"code":${raw}}`), refused(raw), `code ${raw} is not a uint64`);
  }
});

test('the first bad field in document order is the one reported; keys match case-insensitively; null is skipped', () => {
  assert.equal(goDecodeErrorStructError('{"Code":18446744073709551616,"msg":1}'), refused('18446744073709551616'));
  assert.equal(goDecodeErrorStructError('{"msg":"m","cOdE":-1}'), refused('-1'));
  assert.equal(goDecodeErrorStructError('{"code":null,"msg":null,"details":null}'), null);
  assert.equal(goDecodeErrorStructError('{"other":-1,"code":18446744073709551615}'), null, 'an unknown field is not decoded');
  assert.equal(goDecodeErrorStructError('{"code":7,"code":-1}'), refused('-1'), 'a repeated key is decoded again');
  assert.equal(goDecodeErrorStructError('{"details":"d","msg":{"a":1}}'), 'json: cannot unmarshal object into Go struct field Error.msg of type string');
  assert.equal(goDecodeErrorStructError('{}'), null);
  assert.equal(goDecodeErrorStructError('[]'), 'json: cannot unmarshal array into Go value of type types.Error');
  assert.equal(goDecodeErrorStructError('{"a":{"code":"x"}}'), null, 'a nested object\'s keys are not the top object\'s fields');
});

test('numbers the scanner refuses: a leading zero, a bare minus, a dot or exponent without digits', () => {
  assert.equal(goDecodeErrorStructError('{"code":01}'), "invalid character '1' after object key:value pair");
  assert.equal(goDecodeErrorStructError('{"code":-}'), "invalid character '}' in numeric literal");
  assert.equal(goDecodeErrorStructError('{"code":1.}'), "invalid character '}' after decimal point in numeric literal");
  assert.equal(goDecodeErrorStructError('{"code":1e}'), "invalid character '}' in exponent of numeric literal");
  assert.equal(goDecodeErrorStructError('{"code":1e+}'), "invalid character '}' in exponent of numeric literal");
  assert.equal(goDecodeErrorStructError('{"code":1e+5}'), refused('1e+5'));
  assert.equal(goDecodeErrorStructError('1.'), "invalid character ' ' after decimal point in numeric literal", 'past the end the scanner sees a space');
  assert.equal(goDecodeErrorStructError('{"code":1'), 'unexpected end of JSON input');
});

test('strings: escapes Go accepts, and the errors for the ones it does not', () => {
  assert.equal(goDecodeErrorStructError('{"msg":"\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9"}'), null);
  assert.equal(goDecodeErrorStructError('{"msg":"\\x"}'), "invalid character 'x' in string escape code");
  assert.equal(goDecodeErrorStructError('{"msg":"\\u12g4"}'), "invalid character 'g' in \\u hexadecimal character escape");
  assert.equal(goDecodeErrorStructError('{"msg":"\\u12'), "invalid character ' ' in \\u hexadecimal character escape");
  assert.equal(goDecodeErrorStructError('{"msg":"abc'), 'unexpected end of JSON input');
  assert.equal(goDecodeErrorStructError('{"msg":"\t"}'), "invalid character '\\t' in string literal");
  assert.equal(goDecodeErrorStructError('{"a" 1}'), "invalid character '1' after object key");
  assert.equal(goDecodeErrorStructError('{1:2}'), "invalid character '1' looking for beginning of object key string");
  assert.equal(goDecodeErrorStructError('[1 2]'), "invalid character '2' after array element");
  assert.equal(goDecodeErrorStructError('nul'), "invalid character ' ' in literal null (expecting 'l')");
  assert.equal(goDecodeErrorStructError('fals'), "invalid character ' ' in literal false (expecting 'e')");
  assert.equal(goDecodeErrorStructError('  '), 'unexpected end of JSON input');
  assert.equal(goDecodeErrorStructError('{"msg":"m"}\r\n\t '), null, 'trailing whitespace of every kind');
});

test('depth: exactly GO_MAX_DEPTH levels are read, one more is refused; the pre-check scans only input long enough to be that deep', () => {
  const deep = (n: number, open = '[', close = ']'): string => open.repeat(n) + close.repeat(n);
  assert.equal(goSyntaxError(deep(GO_MAX_DEPTH)), null);
  assert.equal(goSyntaxError(deep(GO_MAX_DEPTH + 1))?.message, "invalid character '[' exceeded max depth");
  assert.equal(goDepthError(Buffer.from(deep(GO_MAX_DEPTH))), null, 'exactly the limit: 20,000 bytes, not scanned, fine');
  assert.equal(goDepthError(Buffer.from(deep(GO_MAX_DEPTH + 1))), "invalid character '[' exceeded max depth");
  assert.equal(goDepthError(Buffer.from(deep(GO_MAX_DEPTH + 1, '{', '}'))), "invalid character '{' exceeded max depth");
  // Brackets inside strings (with escaped quotes) are not nesting.
  const inString = `["${'\\"['.repeat(GO_MAX_DEPTH + 1)}"]`;
  assert.equal(goDepthError(Buffer.from(inString)), null);
  // Depth falls as containers close: many shallow siblings are fine however long.
  assert.equal(goDepthError(Buffer.from(`[${'[],'.repeat(GO_MAX_DEPTH * 2)}[]]`)), null);
});

test('where a syntax error is: line and column of the offending character, or of the end', () => {
  assert.deepEqual(goSyntaxError('{\n  "a": x\n}'), { message: "invalid character 'x' looking for beginning of value", context: 'looking for beginning of value', line: 2, column: 8 });
  assert.equal(describeSyntaxError('{\n  "a": x\n}'), 'invalid character looking for beginning of value at line 2, column 8');
  assert.equal(describeSyntaxError('{"a":'), 'unexpected end of JSON input at line 1, column 6');
  assert.equal(describeSyntaxError('{}'), 'invalid JSON', 'valid JSON has no syntax error to describe');
});

test('the scanner, character by character: digits 0 and 9 at each place a digit goes, the signs and characters below "0"', () => {
  for (const raw of ['-9', '-0.5', '1.9', '1.0', '1e9', '1e-5', '1E+0', '9']) {
    assert.equal(goDecodeErrorStructError(`{"code":${raw}}`), raw === '9' ? null : refused(raw), `${raw} is a JSON number`);
  }
  assert.equal(goDecodeErrorStructError('-.'), "invalid character '.' in numeric literal");
  assert.equal(goDecodeErrorStructError('1.-'), "invalid character '-' after decimal point in numeric literal");
  assert.equal(goDecodeErrorStructError('1e.'), "invalid character '.' in exponent of numeric literal");
  assert.equal(goDecodeErrorStructError('1e-+'), "invalid character '+' in exponent of numeric literal");
  assert.equal(goDecodeErrorStructError('trux'), "invalid character 'x' in literal true (expecting 'e')");
  assert.equal(goDecodeErrorStructError('tRue'), "invalid character 'R' in literal true (expecting 'r')");
  assert.equal(goDecodeErrorStructError('{"msg":false}'), 'json: cannot unmarshal bool into Go struct field Error.msg of type string');
  assert.equal(goDecodeErrorStructError('{"a" "b"}'), 'invalid character \'"\' after object key');
  assert.equal(goDecodeErrorStructError('{ }'), null, 'white space inside an empty object');
  assert.equal(goDecodeErrorStructError('[ ]'), 'json: cannot unmarshal array into Go value of type types.Error');
  assert.equal(goDecodeErrorStructError('[1,2,{"code":-1}]'), 'json: cannot unmarshal array into Go value of type types.Error', 'an array\'s elements after a comma are values, not keys');
});

test('the depth pre-check: a string\'s escaped quote does not end it; "}" closes an object as "]" an array', () => {
  const n = GO_MAX_DEPTH + 1;
  const pad = ' '.repeat(2 * GO_MAX_DEPTH); // longer than the pre-check's threshold, so it scans
  assert.equal(goDepthError(Buffer.from(`["\\"${'['.repeat(n)}${pad}"]`)), null, 'brackets after an escaped quote are still in the string');
  assert.equal(goDepthError(Buffer.from(`["a${'['.repeat(n)}${pad}"]`)), null, 'brackets in a string are not nesting');
  assert.equal(goDepthError(Buffer.from(`[${'{},'.repeat(n)}{}]`)), null, 'closed objects do not add up');
});
