import { test } from 'node:test';
import assert from 'node:assert/strict';
import { goExitText, goQuote, goStringList } from '../../src/cni/go-format.ts';
import { goDecodeErrorStructError } from '../../src/cni/go-json.ts';

// Expected values below were produced once by Go 1.19.8's strconv.Quote, run on the same bytes
// (given here as hex so invalid UTF-8 can be written down).
const QUOTE_CASES: ReadonlyArray<readonly [label: string, hex: string, goQuoted: string]> = [
  ['empty', '', '""'],
  ['plain ASCII', '706c61696e20617363696920313233', '"plain ascii 123"'],
  ['quotes and backslashes', '7361792022686922205c206261636b', '"say \\"hi\\" \\\\ back"'],
  ['single quote', '27', '"\'"'],
  ['\\n\\t\\r\\a\\b\\f\\v', '0a090d07080c0b', '"\\n\\t\\r\\a\\b\\f\\v"'],
  ['NUL byte', '610062', '"a\\x00b"'],
  ['DEL 0x7f', '7f', '"\\x7f"'],
  ['ESC 0x1b', '1b5b33316d', '"\\x1b[31m"'],
  ['invalid byte 0xff', 'ff', '"\\xff"'],
  ['lone lead byte 0xc3', 'c3', '"\\xc3"'],
  ['lone lead byte between ASCII', '78c379', '"x\\xc3y"'],
  ['surrogate encoded in UTF-8', 'eda080', '"\\xed\\xa0\\x80"'],
  ['above U+10FFFF', 'f4908080', '"\\xf4\\x90\\x80\\x80"'],
  ['overlong NUL', 'c080', '"\\xc0\\x80"'],
  ['valid é (U+00E9)', 'c3a9', '"\u00e9"'],
  ['CJK', 'e697a5e69cac', '"\u65e5\u672c"'],
  ['emoji 😀', 'f09f9880', '"\u{1F600}"'],
  ['emoji followed by a truncated sequence', 'f09f9880e282', '"\u{1F600}\\xe2\\x82"'],
  ['zero width space U+200B', '61e2808b62', '"a\\u200bb"'],
  ['non-breaking space U+00A0', '61c2a062', '"a\\u00a0b"'],
  ['ideographic space U+3000', '61e3808062', '"a\\u3000b"'],
  ['soft hyphen U+00AD', 'c2ad', '"\\u00ad"'],
  ['line separator U+2028', 'e280a8', '"\\u2028"'],
  ['BOM U+FEFF', 'efbbbf', '"\\ufeff"'],
  ['combining acute accent after e', '65cc81', '"e\u0301"'],
  ['language tag U+E0001 (astral, not printable)', 'f3a08081', '"\\U000e0001"'],
  // Each lead byte range's edges and each bound of utf8.DecodeRune (derived from its rules and
  // unicode.IsPrint, not run through Go here): the smallest 2-byte rune, the last 2-byte lead,
  // the first 3- and 4-byte leads, overlong forms just below each minimum, the largest rune, and
  // lead bytes outside every range followed by what would otherwise decode.
  ['U+0080, the smallest 2-byte rune (a C1 control)', 'c280', '"\\u0080"'],
  ['U+07C0 from the last 2-byte lead 0xdf', 'df80', '"\u07c0"'],
  ['U+0800 from the first 3-byte lead 0xe0', 'e0a080', '"\u0800"'],
  ['overlong 3-byte U+0080', 'e08280', '"\\xe0\\x82\\x80"'],
  ['overlong 4-byte U+FFFF', 'f08fbfbf', '"\\xf0\\x8f\\xbf\\xbf"'],
  ['U+10FFFF from the last 4-byte lead 0xf4 (not printable)', 'f48fbfbf', '"\\U0010ffff"'],
  ['lead 0xc1 before two continuation bytes', 'c1bfbf', '"\\xc1\\xbf\\xbf"'],
  ['lead 0xf8 before three continuation bytes', 'f8908080', '"\\xf8\\x90\\x80\\x80"'],
  ['lead 0xc1 before three continuation bytes', 'c1808080', '"\\xc1\\x80\\x80\\x80"'],
  ['the last surrogate U+DFFF encoded in UTF-8', 'edbfbf', '"\\xed\\xbf\\xbf"'],
];

for (const [label, hex, want] of QUOTE_CASES) {
  test(`goQuote equals Go's strconv.Quote for ${label}`, () => {
    assert.equal(goQuote(Buffer.from(hex, 'hex')), want);
  });
}

test('goQuote escapes every C0 control byte without a short escape as \\xNN', () => {
  const short = new Set([7, 8, 9, 10, 11, 12, 13]);
  for (let b = 0; b < 0x20; b++) {
    if (short.has(b)) continue;
    assert.equal(goQuote(Uint8Array.of(b)), `"\\x${b.toString(16).padStart(2, '0')}"`);
  }
});

// V8's JSON.parse reports a truncated object as an error at position == length ("Expected
// property name or '}'", "Expected ',' or '}' after property value"), not "Unexpected end".

// Expected values below were produced once by Go 1.19.8: json.Unmarshal(data, &types.Error{})
// with types.Error = struct{Code uint `json:"code"`; Msg string `json:"msg"`; Details string
// `json:"details,omitempty"`} in a package named types; null means Unmarshal returned nil.
const DECODE_CASES: ReadonlyArray<{ input: string; go: string | null }> = [
  { input: '', go: 'unexpected end of JSON input' },
  { input: '   ', go: 'unexpected end of JSON input' },
  { input: 'hello', go: "invalid character 'h' looking for beginning of value" },
  { input: 'Error: boom', go: "invalid character 'E' looking for beginning of value" },
  { input: '<html>', go: "invalid character '<' looking for beginning of value" },
  { input: "'x'", go: "invalid character '\\'' looking for beginning of value" },
  { input: '{', go: 'unexpected end of JSON input' },
  { input: '[', go: 'unexpected end of JSON input' },
  { input: '{"code":1', go: 'unexpected end of JSON input' },
  { input: '\n{"code":1', go: 'unexpected end of JSON input' },
  { input: '{} x', go: "invalid character 'x' after top-level value" },
  { input: '{} {}', go: "invalid character '{' after top-level value" },
  { input: '[1]', go: 'json: cannot unmarshal array into Go value of type types.Error' },
  { input: '"s"', go: 'json: cannot unmarshal string into Go value of type types.Error' },
  { input: '12', go: 'json: cannot unmarshal number into Go value of type types.Error' },
  { input: 'true', go: 'json: cannot unmarshal bool into Go value of type types.Error' },
  { input: 'null', go: null },
  { input: '{"code":"7"}', go: 'json: cannot unmarshal string into Go struct field Error.code of type uint' },
  { input: '{"code":true}', go: 'json: cannot unmarshal bool into Go struct field Error.code of type uint' },
  { input: '{"code":[1]}', go: 'json: cannot unmarshal array into Go struct field Error.code of type uint' },
  { input: '{"code":-1}', go: 'json: cannot unmarshal number -1 into Go struct field Error.code of type uint' },
  { input: '{"code":1.5}', go: 'json: cannot unmarshal number 1.5 into Go struct field Error.code of type uint' },
  { input: '{"code":18446744073709551616}', go: 'json: cannot unmarshal number 18446744073709551616 into Go struct field Error.code of type uint' },
  { input: '{"msg":{}}', go: 'json: cannot unmarshal object into Go struct field Error.msg of type string' },
  { input: '{"msg":true}', go: 'json: cannot unmarshal bool into Go struct field Error.msg of type string' },
  { input: '{"details":[]}', go: 'json: cannot unmarshal array into Go struct field Error.details of type string' },
  { input: '{"msg":null}', go: null },
  { input: '{"code":7,"msg":"m"}', go: null },
  { input: '{"code":1}\n', go: null },
  { input: '{"a":1} \n', go: null },
  // Cases where our function and Go differ (reported as bugs).
  { input: '{"msg":5}', go: 'json: cannot unmarshal number into Go struct field Error.msg of type string' },
  { input: '{"details":5}', go: 'json: cannot unmarshal number into Go struct field Error.details of type string' },
  { input: '{"code":1e2}', go: 'json: cannot unmarshal number 1e2 into Go struct field Error.code of type uint' },
  { input: '{"code":1.0}', go: 'json: cannot unmarshal number 1.0 into Go struct field Error.code of type uint' },
  { input: '{"CODE":"x"}', go: 'json: cannot unmarshal string into Go struct field Error.code of type uint' },
  { input: '{"msg":5,"code":"x"}', go: 'json: cannot unmarshal number into Go struct field Error.msg of type string' },
  { input: '-', go: "invalid character ' ' in numeric literal" },
  { input: 'tru', go: "invalid character ' ' in literal true (expecting 'e')" },
  { input: '{"code":1,}', go: "invalid character '}' looking for beginning of object key string" },
  { input: '{"msg":"a\nb"}', go: "invalid character '\\n' in string literal" },
];

for (const { input, go } of DECODE_CASES) {
  test(`goDecodeErrorStructError(${JSON.stringify(input)}) equals Go's json.Unmarshal error`, () => {
    assert.equal(goDecodeErrorStructError(input), go);
  });
}

test('goExitText without an exit code or a signal says exit status -1, as os/exec does', () => {
  assert.equal(goExitText(null, null), 'exit status -1');
});

test('goExitText gives os/exec ExitError text for exit codes', () => {
  assert.equal(goExitText(1, null), 'exit status 1');
  assert.equal(goExitText(2, null), 'exit status 2');
  assert.equal(goExitText(255, null), 'exit status 255');
});

test('goExitText gives Go signal names (produced by Go 1.19 syscall.Signal.String)', () => {
  const cases: Array<[string, string]> = [
    ['SIGKILL', 'killed'],
    ['SIGTERM', 'terminated'],
    ['SIGSEGV', 'segmentation fault'],
    ['SIGABRT', 'aborted'],
    ['SIGINT', 'interrupt'],
    ['SIGHUP', 'hangup'],
    ['SIGPIPE', 'broken pipe'],
    // The rest of the table, as Go's syscall signal list on Linux words them.
    ['SIGQUIT', 'quit'], ['SIGILL', 'illegal instruction'], ['SIGTRAP', 'trace/breakpoint trap'], ['SIGBUS', 'bus error'],
    ['SIGFPE', 'floating point exception'], ['SIGUSR1', 'user defined signal 1'], ['SIGUSR2', 'user defined signal 2'],
    ['SIGALRM', 'alarm clock'], ['SIGXCPU', 'CPU time limit exceeded'], ['SIGXFSZ', 'file size limit exceeded'], ['SIGSYS', 'bad system call'],
  ];
  for (const [signal, name] of cases) assert.equal(goExitText(null, signal), `signal: ${name}`);
});

test('goExitText prefers the signal when both are given (a signalled process has no exit code)', () => {
  assert.equal(goExitText(137, 'SIGKILL'), 'signal: killed');
});

test('goStringList is fmt %s of a []string (produced by Go 1.19)', () => {
  assert.equal(goStringList(['a', 'b c', 'd']), '[a b c d]');
  assert.equal(goStringList([]), '[]');
  assert.equal(goStringList(['x']), '[x]');
});
