import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  podFromCniArgs,
  readCniEnv,
  splitCniPath,
  validateContainerId,
  validateIfname,
  validateNetworkName,
  type CniEnv,
} from '../../src/cni/env.ts';
import { errorJson, isCniError, type CniError } from '../../src/cni/errors.ts';

type Env = Record<string, string | undefined>;

/** A complete, valid environment for an ADD; tests delete or override variables. */
function fullEnv(command: string, overrides: Env = {}): Env {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: 'abc123',
    CNI_NETNS: '/var/run/netns/cni-1',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'IgnoreUnknown=1',
    CNI_PATH: '/opt/cni/bin',
    ...overrides,
  };
}

function expectError(result: CniEnv | CniError): CniError {
  assert.ok(isCniError(result), `expected a CNI error, got ${JSON.stringify(result)}`);
  return result;
}

function expectEnv(result: CniEnv | CniError): CniEnv {
  assert.ok(!isCniError(result), `expected a parsed env, got ${JSON.stringify(result)}`);
  return result as CniEnv;
}

// skel's table (pkg/skel/skel.go getCmdArgsFromEnv), extended with STATUS and GC (CNI 1.1).
const REQUIRED_BY_COMMAND: Record<string, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  STATUS: ['CNI_PATH'],
  GC: ['CNI_PATH'],
  VERSION: [],
};
const ALL_VARS = ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'];

for (const [command, required] of Object.entries(REQUIRED_BY_COMMAND)) {
  test(`${command} with every variable set is accepted and read as given`, () => {
    const env = expectEnv(readCniEnv(fullEnv(command)));
    assert.deepEqual(env, {
      command,
      containerId: 'abc123',
      netns: '/var/run/netns/cni-1',
      ifname: 'eth0',
      args: 'IgnoreUnknown=1',
      path: '/opt/cni/bin',
    });
  });

  test(`${command} with only CNI_COMMAND set reports all its required variables in table order`, () => {
    const result = readCniEnv({ CNI_COMMAND: command });
    if (required.length === 0) {
      expectEnv(result);
      return;
    }
    const err = expectError(result);
    assert.equal(err.code, 4);
    assert.equal(err.msg, `required env variables [${required.join(',')}] missing`);
    assert.equal(err.details, undefined);
  });

  for (const name of ALL_VARS) {
    const needed = required.includes(name);
    test(`${command} ${needed ? 'needs' : 'does not need'} ${name}`, () => {
      for (const value of [undefined, '']) {
        const result = readCniEnv(fullEnv(command, { [name]: value }));
        if (needed) {
          const err = expectError(result);
          assert.equal(err.code, 4);
          assert.equal(err.msg, `required env variables [${name}] missing`);
        } else {
          expectEnv(result);
        }
      }
    });
  }
}

test('a missing CNI_COMMAND is reported alone (no command means no other requirement)', () => {
  const err = expectError(readCniEnv({}));
  assert.deepEqual(err, { code: 4, msg: 'required env variables [CNI_COMMAND] missing' });
  assert.deepEqual(expectError(readCniEnv({ CNI_COMMAND: '', CNI_PATH: '/x' })), err);
});

test('DEL missing both CNI_CONTAINERID and CNI_PATH lists both, in table order', () => {
  const err = expectError(readCniEnv({ CNI_COMMAND: 'DEL', CNI_IFNAME: 'eth0' }));
  assert.deepEqual(err, { code: 4, msg: 'required env variables [CNI_CONTAINERID,CNI_PATH] missing' });
});

test('an unknown command is code 4 "unknown CNI_COMMAND: X"', () => {
  for (const command of ['FOO', 'add', 'Del', 'VERSIONS']) {
    const err = expectError(readCniEnv(fullEnv(command)));
    assert.deepEqual(err, { code: 4, msg: `unknown CNI_COMMAND: ${command}` });
  }
  // An unknown command needs no other variable, as in skel.
  assert.deepEqual(expectError(readCniEnv({ CNI_COMMAND: 'FOO' })), { code: 4, msg: 'unknown CNI_COMMAND: FOO' });
});

test('VERSION accepts placeholder values without validating them (podman sends CNI_NETNS=dummy)', () => {
  const env = expectEnv(readCniEnv({ CNI_COMMAND: 'VERSION', CNI_CONTAINERID: 'not valid!', CNI_NETNS: 'dummy', CNI_IFNAME: 'a/b:c d', CNI_PATH: 'dummy' }));
  assert.equal(env.command, 'VERSION');
  assert.equal(env.netns, 'dummy');
});

test('STATUS and GC do not validate container id or interface name', () => {
  for (const command of ['STATUS', 'GC']) {
    expectEnv(readCniEnv({ CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin', CNI_CONTAINERID: 'bad id', CNI_IFNAME: '..' }));
  }
});

test('an empty container id is code 3 "missing containerID"', () => {
  assert.deepEqual(validateContainerId(''), { code: 3, msg: 'missing containerID' });
});

test('valid container ids are accepted', () => {
  for (const id of ['a', '0', 'abc123', 'a.b_c-d', 'Z9-', '7f3c'.repeat(16)]) {
    assert.equal(validateContainerId(id), null, id);
  }
});

test('container ids with invalid characters are code 4 with the id as details', () => {
  for (const id of ['-abc', '.abc', '_abc', 'a b', 'a/b', 'a:b', 'é', 'a\n', 'a;b']) {
    assert.deepEqual(validateContainerId(id), { code: 4, msg: 'invalid characters in containerID', details: id }, id);
  }
});

for (const command of ['ADD', 'CHECK', 'DEL']) {
  test(`${command} rejects a container id with invalid characters (code 4)`, () => {
    const err = expectError(readCniEnv(fullEnv(command, { CNI_CONTAINERID: 'bad/id' })));
    assert.deepEqual(err, { code: 4, msg: 'invalid characters in containerID', details: 'bad/id' });
  });

  test(`${command} rejects an invalid interface name (code 4)`, () => {
    const err = expectError(readCniEnv(fullEnv(command, { CNI_IFNAME: 'eth:0' })));
    assert.deepEqual(err, { code: 4, msg: 'interface name contains / or : or whitespace characters' });
  });
}

test('an empty interface name is "interface name is empty"', () => {
  assert.deepEqual(validateIfname(''), { code: 4, msg: 'interface name is empty' });
});

test('an interface name longer than 15 bytes is too long; 15 bytes is fine', () => {
  const tooLong = { code: 4, msg: 'interface name is too long', details: 'interface name should be less than 16 characters' };
  assert.equal(validateIfname('a'.repeat(15)), null);
  assert.deepEqual(validateIfname('a'.repeat(16)), tooLong);
  // The limit is in bytes, as Go's len(): 8 two-byte characters are 16 bytes.
  assert.equal(validateIfname('é'.repeat(7)), null);
  assert.deepEqual(validateIfname('é'.repeat(8)), tooLong);
});

test('"." and ".." are refused as interface names', () => {
  for (const name of ['.', '..']) assert.deepEqual(validateIfname(name), { code: 4, msg: 'interface name is . or ..' });
  assert.equal(validateIfname('...'), null);
  assert.equal(validateIfname('.eth'), null);
});

test('interface names with "/", ":" or whitespace are refused', () => {
  const msg = { code: 4, msg: 'interface name contains / or : or whitespace characters' };
  for (const name of ['eth/0', 'eth:0', 'eth 0', 'eth\t0', 'eth\n', '\reth', 'eth\v', 'eth\f', 'a\u00a0b', 'a\u2003b', 'a\u3000b']) {
    assert.deepEqual(validateIfname(name), msg, JSON.stringify(name));
  }
});

test('ordinary interface names are accepted', () => {
  for (const name of ['eth0', 'net1', 'cali1234567890a', 'veth-x_y.z', 'a@b', 'é']) assert.equal(validateIfname(name), null, name);
});

// Go's unicode.IsSpace (used by skel's ValidateInterfaceName) is true for U+0085 (NEL) and false
// for U+FEFF; JavaScript's \s is the other way round.
test('an interface name with U+0085 (NEL) is refused, as Go\'s unicode.IsSpace says it is whitespace', () => {
  assert.deepEqual(validateIfname('eth\u0085'), { code: 4, msg: 'interface name contains / or : or whitespace characters' });
});

test('an interface name with U+FEFF is accepted, as Go\'s unicode.IsSpace says it is not whitespace', () => {
  assert.equal(validateIfname('eth\ufeff'), null);
});

test('validateNetworkName: empty is code 7 "missing network name"', () => {
  assert.deepEqual(validateNetworkName(''), { code: 7, msg: 'missing network name' });
});

test('validateNetworkName: invalid characters are code 7 with the name as details', () => {
  for (const name of ['-net', 'my net', 'net/1', 'net:1', '.net', 'réseau']) {
    assert.deepEqual(validateNetworkName(name), { code: 7, msg: 'invalid characters found in network name', details: name }, name);
  }
});

test('validateNetworkName: valid names are accepted', () => {
  for (const name of ['k8s-pod-network', 'cbr0', 'a', '1net', 'a.b_c-d']) assert.equal(validateNetworkName(name), null, name);
});

test('podFromCniArgs reads the four K8S_* fields', () => {
  const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-7d4b9c-x2x;K8S_POD_INFRA_CONTAINER_ID=0a1b2c;K8S_POD_UID=5f0c-11ee';
  assert.deepEqual(podFromCniArgs(args), { namespace: 'default', name: 'web-7d4b9c-x2x', uid: '5f0c-11ee', infraContainerId: '0a1b2c' });
});

test('podFromCniArgs gives an empty reference for no args and omits absent or empty fields', () => {
  assert.deepEqual(podFromCniArgs(''), {});
  assert.deepEqual(podFromCniArgs('IgnoreUnknown=1'), {});
  assert.deepEqual(podFromCniArgs('K8S_POD_NAME=p;K8S_POD_NAMESPACE='), { name: 'p' });
});

test('podFromCniArgs ignores malformed pairs', () => {
  assert.deepEqual(podFromCniArgs(';;K8S_POD_NAME;=oops;K8S_POD_NAMESPACE=ns;;garbage'), { namespace: 'ns' });
});

test('podFromCniArgs keeps "=" inside values (split at the first "=")', () => {
  assert.deepEqual(podFromCniArgs('K8S_POD_NAME=a=b;K8S_POD_UID==x'), { name: 'a=b', uid: '=x' });
});

test('podFromCniArgs matches keys exactly (case-sensitive, no prefix matches)', () => {
  assert.deepEqual(podFromCniArgs('k8s_pod_name=x;K8S_POD_NAME_EXTRA=y;XK8S_POD_NAME=z'), {});
});

test('splitCniPath follows Go filepath.SplitList', () => {
  const cases: Array<[string, string[]]> = [
    ['', []],
    ['/opt/cni/bin', ['/opt/cni/bin']],
    ['/opt/cni/bin:/usr/lib/cni', ['/opt/cni/bin', '/usr/lib/cni']],
    ['a::b', ['a', '', 'b']],
    [':', ['', '']],
    ['/a:', ['/a', '']],
  ];
  for (const [input, want] of cases) assert.deepEqual(splitCniPath(input), want, JSON.stringify(input));
});

test('a variable a command does not need reads as empty when absent', () => {
  assert.deepEqual(readCniEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' }),
    { command: 'DEL', containerId: 'c1', netns: '', ifname: 'eth0', args: '', path: '/opt/cni/bin' });
  assert.deepEqual(readCniEnv({ CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' }),
    { command: 'STATUS', containerId: '', netns: '', ifname: '', args: '', path: '/opt/cni/bin' });
  assert.deepEqual(readCniEnv({ CNI_COMMAND: 'VERSION' }), { command: 'VERSION', containerId: '', netns: '', ifname: '', args: '', path: '' });
});

test('podFromCniArgs: a part without "=" is no pair, even when it starts with a key', () => {
  assert.deepEqual(podFromCniArgs('K8S_POD_NAMEx;K8S_POD_UIDy'), {});
});

test('isCniError: an object with a numeric code and a string msg, nothing else', () => {
  assert.equal(isCniError({ code: 7, msg: 'm' }), true);
  assert.equal(isCniError({ code: 0, msg: '', details: 'd' }), true);
  for (const v of [null, undefined, 'code', 7, [], {}, { code: 7 }, { msg: 'm' }, { code: '7', msg: 'm' }, { code: 7, msg: 5 }]) {
    assert.equal(isCniError(v), false, JSON.stringify(v));
  }
});

test('errorJson: the config\'s version, code and msg, and details only when there are some', () => {
  assert.equal(errorJson({ code: 7, msg: 'm', details: 'd' }, '1.0.0'), '{"cniVersion":"1.0.0","code":7,"msg":"m","details":"d"}');
  assert.equal(errorJson({ code: 7, msg: 'm', details: '' }, '0.4.0'), '{"cniVersion":"0.4.0","code":7,"msg":"m"}');
  assert.equal(errorJson({ code: 1, msg: 'm' }, '0.4.0'), '{"cniVersion":"0.4.0","code":1,"msg":"m"}');
});
