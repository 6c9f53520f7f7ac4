import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TIMEOUT_MS, parseCommand, UsageError } from './cliArgs.js';

test('server modes: default ports and host, --port 0 allowed', () => {
  assert.deepEqual(parseCommand(['http-echo']), { mode: 'http-echo', host: '0.0.0.0', port: 8080 });
  assert.deepEqual(parseCommand(['grpc-echo', '--port', '0', '--host', '127.0.0.1']), {
    mode: 'grpc-echo',
    host: '127.0.0.1',
    port: 0,
  });
  assert.deepEqual(parseCommand(['udp-echo']), { mode: 'udp-echo', host: '0.0.0.0', port: 9001 });
  assert.deepEqual(parseCommand(['multi', '--tcp-port', '9100']), {
    mode: 'multi',
    host: '0.0.0.0',
    httpPort: 8080,
    tcpPort: 9100,
  });
  assert.deepEqual(parseCommand(['idle']), { mode: 'idle' });
});

test('client modes: repeated k=v flags, count, timeout', () => {
  assert.deepEqual(parseCommand(['http-get', 'http://echo:8080/', '--header', 'a=1', '--header', 'b=x=y', '--count', '3']), {
    mode: 'http-get',
    url: 'http://echo:8080/',
    headers: [
      ['a', '1'],
      ['b', 'x=y'],
    ],
    count: 3,
    timeoutMs: DEFAULT_TIMEOUT_MS,
  });
  assert.deepEqual(parseCommand(['grpc-call', 'h:1', '--metadata', 'k=v', '--timeout', '250']), {
    mode: 'grpc-call',
    target: 'h:1',
    metadata: [['k', 'v']],
    message: 'hello',
    timeoutMs: 250,
  });
  assert.deepEqual(parseCommand(['udp-send', 'udp-echo', '9001', 'ping']), {
    mode: 'udp-send',
    host: 'udp-echo',
    port: 9001,
    text: 'ping',
    timeoutMs: DEFAULT_TIMEOUT_MS,
  });
  assert.equal(parseCommand(['dns-lookup', 'x', '--type', 'srv']).mode, 'dns-lookup');
});

test('mistakes are usage errors that say what was wrong', () => {
  const cases: [string[], RegExp][] = [
    [['nope'], /unknown mode "nope"/],
    [['http-echo', '--port', '70000'], /--port must be a port number/],
    [['http-echo', '--bogus'], /http-echo: .*--bogus/],
    [['tcp-send', 'h', '1'], /tcp-send wants HOST PORT TEXT, got 2/],
    [['http-get', 'u', '--header', 'novalue'], /--header wants key=value/],
    [['http-get', 'u', '--count', '0'], /--count must be a positive integer/],
    [['dns-lookup', 'x', '--type', 'MX'], /--type must be one of A, AAAA, SRV, CNAME/],
  ];
  for (const [argv, message] of cases) assert.throws(() => parseCommand(argv), (e: Error) => e instanceof UsageError && message.test(e.message), argv.join(' '));
});

test('no mode or --help asks for help', () => {
  assert.deepEqual(parseCommand([]), { mode: 'help' });
  assert.deepEqual(parseCommand(['--help']), { mode: 'help' });
});
