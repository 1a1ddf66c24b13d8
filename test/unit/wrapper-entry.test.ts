import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCniError, type CniError } from '../../src/cni/errors.ts';
import { DEFAULTS, parseWrapperEntry, type JsonObject, type WrapperEntry } from '../../src/config/wrapper-entry.ts';

function entry(extra: JsonObject = {}): JsonObject {
  return {
    cniVersion: '1.0.0',
    name: 'k8s-pod-network',
    type: 'cni-trace',
    delegates: [{ type: 'bridge', bridge: 'cni0' }, { type: 'portmap', capabilities: { portMappings: true } }],
    ...extra,
  };
}

function parseError(conf: JsonObject): CniError {
  const out = parseWrapperEntry(conf);
  assert.ok(isCniError(out), `expected an error for ${JSON.stringify(conf)}`);
  assert.equal(out.code, 7);
  assert.match(out.msg, /^invalid cni-trace config: /);
  return out;
}

function parsed(conf: JsonObject): WrapperEntry {
  const out = parseWrapperEntry(conf);
  assert.ok(!isCniError(out), `expected a parsed entry, got ${JSON.stringify(out)}`);
  return out as WrapperEntry;
}

test('a minimal entry gets the documented defaults', () => {
  const conf = entry();
  const e = parsed(conf);
  assert.equal(e.name, 'k8s-pod-network');
  assert.equal(e.cniVersion, '1.0.0');
  assert.deepEqual(e.delegates, conf.delegates);
  assert.equal(e.journalDir, '/var/log/cni-trace');
  assert.equal(e.journalMaxFileBytes, 16 * 1024 * 1024);
  assert.equal(e.journalMaxFiles, 8);
  assert.equal(e.captureMaxBytes, 65536);
  assert.deepEqual(e.redact, []);
  assert.deepEqual(e.runtimeConfig, {});
  assert.equal(e.prevResult, undefined);
  assert.equal(e.nested, true);
  assert.equal(e.runDir, '/run/cni-trace');
  assert.equal(e.raw, conf);
  assert.deepEqual(DEFAULTS, { journalDir: '/var/log/cni-trace', journalMaxFileBytes: 16777216, journalMaxFiles: 8, captureMaxBytes: 65536, nested: true, runDir: '/run/cni-trace' });
});

test('explicit settings override the defaults', () => {
  const e = parsed(entry({
    journalDir: '/run/cni-trace',
    redact: ['community'],
    journalMaxFileBytes: 1024,
    journalMaxFiles: 2,
    captureMaxBytes: 10,
    runtimeConfig: { portMappings: [] },
    prevResult: { cniVersion: '1.0.0', ips: [] },
    capabilities: { portMappings: true },
  }));
  assert.equal(e.journalDir, '/run/cni-trace');
  assert.deepEqual(e.redact, ['community']);
  assert.equal(e.journalMaxFileBytes, 1024);
  assert.equal(e.journalMaxFiles, 2);
  assert.equal(e.captureMaxBytes, 10);
  assert.deepEqual(e.runtimeConfig, { portMappings: [] });
  assert.deepEqual(e.prevResult, { cniVersion: '1.0.0', ips: [] });
});

test('spec keys and runtime-reserved cni.dev/ keys are accepted', () => {
  parsed(entry({
    args: { cni: { labels: [] } },
    ipam: {},
    dns: {},
    'cni.dev/valid-attachments': [{ containerID: 'c', ifname: 'eth0' }],
    'cni.dev/attachments': [],
    'cni.dev/future-thing': true,
  }));
});

test('a missing delegates key is refused, naming delegates', () => {
  const conf = entry();
  delete conf.delegates;
  assert.match(parseError(conf).msg, /delegates: missing/);
});

test('delegates that is empty or not an array is refused, naming delegates', () => {
  for (const delegates of [[], {}, 'bridge', 1, null]) {
    assert.match(parseError(entry({ delegates })).msg, /^invalid cni-trace config: delegates: /, JSON.stringify(delegates));
  }
});

test('a delegate that is not an object is refused, naming its index', () => {
  for (const bad of [5, 'bridge', null, [], true]) {
    assert.match(parseError(entry({ delegates: [{ type: 'bridge' }, bad] })).msg, /: delegates\[1\]: must be a plugin object/);
  }
});

test('a delegate without a string type is refused, naming delegates[0].type', () => {
  const bad: JsonObject[] = [{}, { type: '' }, { type: 5 }, { type: null }];
  for (const d of bad) {
    assert.match(parseError(entry({ delegates: [d] })).msg, /: delegates\[0\]\.type: /, JSON.stringify(d));
  }
});

test('a delegate type with "/" or an absolute path is refused, naming delegates[2].type', () => {
  for (const type of ['../bridge', '/usr/lib/cni/bridge', 'sub/bridge']) {
    const msg = parseError(entry({ delegates: [{ type: 'a' }, { type: 'b' }, { type }] })).msg;
    assert.match(msg, /: delegates\[2\]\.type: /);
    assert.ok(msg.includes(JSON.stringify(type)), msg);
  }
});

test('capabilities that are not an object are refused, naming the field', () => {
  for (const caps of ['yes', [true], 1]) {
    assert.match(parseError(entry({ capabilities: caps })).msg, /: capabilities: must be an object/);
    assert.match(parseError(entry({ delegates: [{ type: 'portmap', capabilities: caps }] })).msg, /: delegates\[0\]\.capabilities: must be an object/);
  }
});

test('a non-boolean capability value is refused, naming delegates[0].capabilities.portMappings', () => {
  for (const v of ['true', 1, null, {}]) {
    const msg = parseError(entry({ delegates: [{ type: 'portmap', capabilities: { portMappings: v } }] })).msg;
    assert.equal(msg, 'invalid cni-trace config: delegates[0].capabilities.portMappings: must be a boolean');
  }
  assert.match(parseError(entry({ capabilities: { bandwidth: 'yes' } })).msg, /: capabilities\.bandwidth: must be a boolean/);
});

test('an unknown top-level key such as a typo is refused and named', () => {
  const msg = parseError(entry({ jounralDir: '/var/log/x' })).msg;
  assert.match(msg, /^invalid cni-trace config: jounralDir: unknown key/);
  assert.match(parseError(entry({ Delegates: [] })).msg, /: Delegates: unknown key/);
});

for (const key of ['journalDir', 'runDir']) {
  test(`a relative or non-string ${key} is refused`, () => {
    for (const v of ['var/log/cni-trace', './x', '', 5, []]) {
      assert.match(parseError(entry({ [key]: v })).msg, new RegExp(`: ${key}: must be an absolute path`), JSON.stringify(v));
    }
  });
}

test('nested must be a boolean; false turns nested tracing off', () => {
  for (const nested of ['false', 0, 1, null, {}]) {
    assert.equal(parseError(entry({ nested })).msg, `invalid cni-trace config: nested: must be true or false, got ${JSON.stringify(nested)}`);
  }
  assert.equal(parsed(entry({ nested: false })).nested, false);
  assert.equal(parsed(entry({ runDir: '/run/x' })).runDir, '/run/x');
});

test('redact that is not an array of non-empty strings is refused', () => {
  for (const redact of ['password', [1], ['ok', ''], [null], {}]) {
    assert.match(parseError(entry({ redact })).msg, /: redact: /, JSON.stringify(redact));
  }
});

test('a runtimeConfig that is not an object is refused', () => {
  for (const runtimeConfig of [[], 'x', 1]) assert.match(parseError(entry({ runtimeConfig })).msg, /: runtimeConfig: must be an object/);
});

for (const key of ['journalMaxFileBytes', 'journalMaxFiles', 'captureMaxBytes']) {
  test(`${key} must be a positive integer (0, -1, 1.5 and "10" are refused)`, () => {
    for (const v of [0, -1, 1.5, '10', null, true]) {
      const msg = parseError(entry({ [key]: v })).msg;
      assert.equal(msg, `invalid cni-trace config: ${key}: must be a positive integer, got ${JSON.stringify(v)}`);
    }
    assert.equal(parsed(entry({ [key]: 1 }))[key as 'journalMaxFiles'], 1);
  });
}

test('rule: an unknown key names the wrapper key it is closest to, and only when one is close', () => {
  assert.equal(
    parseError(entry({ jounralDir: '/var/log/x' })).msg,
    'invalid cni-trace config: jounralDir: unknown key (did you mean "journalDir"?) (see docs/configuration.md)',
    'a typo of journalDir must suggest journalDir',
  );
  assert.equal(
    parseError(entry({ bandwidthLimitEgress: 5 })).msg,
    'invalid cni-trace config: bandwidthLimitEgress: unknown key (see docs/configuration.md)',
    'a key close to no wrapper key must get no suggestion',
  );
});

test('rule: each refusal says what the field must be, not only which field', () => {
  const cases: [JsonObject, string][] = [
    [entry({ delegates: [] }), 'delegates: must be a non-empty array of plugin objects'],
    [entry({ delegates: 'bridge' }), 'delegates: must be a non-empty array of plugin objects'],
    [entry({ redact: ['ok', ''] }), 'redact: must be an array of non-empty key-name fragments'],
    [entry({ delegates: [{ type: '' }] }), 'delegates[0].type: missing or not a string'],
    [entry({ delegates: [{ type: 5 }] }), 'delegates[0].type: missing or not a string'],
  ];
  for (const [conf, want] of cases) {
    assert.equal(parseError(conf).msg, `invalid cni-trace config: ${want}`, `the message for ${JSON.stringify(conf)} must say what is expected`);
  }
});
