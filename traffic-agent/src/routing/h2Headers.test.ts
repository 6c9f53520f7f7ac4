import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { forwardableH2Headers } from './h2Headers.js';

test('connection-specific fields are dropped; pseudo-headers, te: trailers and the rest go on', () => {
  const out = forwardableH2Headers({
    ':method': 'POST',
    ':path': '/pkg.Svc/Call',
    ':authority': 'svc:50051',
    ':scheme': 'http',
    'content-type': 'application/grpc',
    te: 'trailers',
    connection: 'keep-alive',
    'keep-alive': 'timeout=5',
    'proxy-connection': 'x',
    'transfer-encoding': 'chunked',
    upgrade: 'h2c',
    'http2-settings': 'AAA',
    'x-multi': ['a', 'b'],
    absent: undefined,
  });
  assert.deepEqual(out, {
    ':method': 'POST',
    ':path': '/pkg.Svc/Call',
    ':authority': 'svc:50051',
    ':scheme': 'http',
    'content-type': 'application/grpc',
    te: 'trailers',
    'x-multi': ['a', 'b'],
  });
});

test('te other than trailers is dropped; :status numbers are kept', () => {
  assert.deepEqual(forwardableH2Headers({ te: 'gzip', ':status': 200 }), { ':status': 200 });
});

test('never-indexed fields stay marked', () => {
  const incoming = { authorization: 'secret', 'x-a': '1', connection: 'x', [http2.sensitiveHeaders]: ['authorization', 'connection'] };
  const out = forwardableH2Headers(incoming);
  assert.deepEqual((out as Record<symbol, unknown>)[http2.sensitiveHeaders], ['authorization']);
});
