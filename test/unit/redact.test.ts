import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentialKeyMatcher, REDACTED, redactCniArgs, redactJson } from '../../src/config/redact.ts';
import type { Json } from '../../src/config/wrapper-entry.ts';

const isCredential = credentialKeyMatcher();

test('REDACTED is the literal "[REDACTED]"', () => {
  assert.equal(REDACTED, '[REDACTED]');
});

test('the default matcher redacts credential-named keys in any case and separator style', () => {
  const keys = [
    'password', 'Password', 'PASSWORD', 'etcdPassword', 'passwd', 'passphrase',
    'api_key', 'apiKey', 'API-KEY', 'api.key',
    'token', 'Token', 'accessToken', 'access_token', 'bearer_token',
    'client_secret', 'clientSecret', 'secret',
    'privateKey', 'private_key', 'key', 'KEY', 'psk', 'preSharedPsk', 'presharedKey', 'tls-key',
    'authorization', 'cookie', 'credentials', 'pass', 'auth', 'pwd',
  ];
  for (const key of keys) assert.equal(isCredential(key), true, key);
});

test('the default matcher leaves ordinary network config keys alone', () => {
  const keys = [
    'kubeconfig', 'ipMasq', 'bridge', 'subnet', 'type', 'name', 'cniVersion', 'ipam', 'routes',
    'gateway', 'isGateway', 'mtu', 'hairpinMode', 'portMappings', 'capabilities', 'dataDir',
    'monkey', 'keys2', 'passthrough', 'author', 'k8s_api_root', 'etcd_key_file',
  ];
  for (const key of keys) assert.equal(isCredential(key), false, key);
});

test('extra fragments from the wrapper entry are added to the defaults, normalised like keys', () => {
  const withExtra = credentialKeyMatcher(['community', 'My_Field', 'x-license']);
  assert.equal(withExtra('snmpCommunity'), true);
  assert.equal(withExtra('myfield'), true);
  assert.equal(withExtra('MY-FIELD-2'), true);
  assert.equal(withExtra('xLicenseId'), true);
  // The defaults still apply.
  assert.equal(withExtra('password'), true);
  assert.equal(withExtra('bridge'), false);
  // Extras do not leak into other matchers.
  assert.equal(isCredential('snmpCommunity'), false);
});

test('redactJson replaces values of every type under credential keys, at any depth and in arrays', () => {
  const input: Json = {
    type: 'calico',
    password: 'hunter2',
    Token: 12345,
    apiKey: null,
    secret: true,
    privateKey: { pem: '-----BEGIN', nested: ['a'] },
    psk: ['one', 'two'],
    ipam: { type: 'host-local', subnet: '10.1.0.0/16', CLIENT_SECRET: 's' },
    peers: [{ endpoint: '1.2.3.4:51820', privateKey: 'pk' }, [{ token: 't' }], 'plain', 7, null],
  };
  assert.deepEqual(redactJson(input, isCredential), {
    type: 'calico',
    password: REDACTED,
    Token: REDACTED,
    apiKey: REDACTED,
    secret: REDACTED,
    privateKey: REDACTED,
    psk: REDACTED,
    ipam: { type: 'host-local', subnet: '10.1.0.0/16', CLIENT_SECRET: REDACTED },
    peers: [{ endpoint: '1.2.3.4:51820', privateKey: REDACTED }, [{ token: REDACTED }], 'plain', 7, null],
  });
});

test('redactJson never mutates its input and returns a copy', () => {
  const input: Json = { a: { password: 'x', list: [{ token: 'y' }] }, keep: [1, 2] };
  const before = structuredClone(input);
  const out = redactJson(input, isCredential);
  assert.deepEqual(input, before);
  assert.notEqual(out, input);
  assert.notEqual((out as { a: Json }).a, (input as { a: Json }).a);
  assert.notEqual((out as { keep: Json }).keep, (input as { keep: Json }).keep);
});

test('redactJson passes scalars, null and undefined through', () => {
  for (const v of ['password', 3, true, null, undefined] as const) assert.equal(redactJson(v, isCredential), v);
});

test('redactJson keeps key order', () => {
  const out = redactJson({ z: 1, password: 'p', a: 2 }, isCredential) as Record<string, Json>;
  assert.deepEqual(Object.keys(out), ['z', 'password', 'a']);
});

test('redactCniArgs replaces credential-named values and keeps everything else byte for byte', () => {
  const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;TOKEN=abc;db_password=x=y;K8S_POD_UID=u';
  assert.equal(
    redactCniArgs(args, isCredential),
    'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;TOKEN=[REDACTED];db_password=[REDACTED];K8S_POD_UID=u',
  );
});

test('redactCniArgs judges by key, not value, and keeps malformed pairs', () => {
  assert.equal(redactCniArgs('K8S_POD_NAME=token', isCredential), 'K8S_POD_NAME=token');
  assert.equal(redactCniArgs('token;=secret;;', isCredential), 'token;=secret;;');
  assert.equal(redactCniArgs('', isCredential), '');
});

test('redactCniArgs uses the extra fragments', () => {
  const m = credentialKeyMatcher(['license']);
  assert.equal(redactCniArgs('LICENSE=abc;A=b', m), 'LICENSE=[REDACTED];A=b');
});
