import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLogger, parseLogLevel } from './jsonLogger.js';

test('JSON lines with time, level, nested tags and fields; below the level nothing', () => {
  const lines: string[] = [];
  const root = jsonLogger({ level: 'info', write: (l) => lines.push(l), now: () => new Date(0) });
  const log = root.child('tunnel').child('tcp 10.0.0.1:80');
  log.debug('not shown');
  log.info('dialed', { session: 's-1', error: new Error('boom') });
  root.error('bad');
  assert.deepEqual(lines.map((l) => JSON.parse(l)), [
    { time: '1970-01-01T00:00:00.000Z', level: 'info', tag: 'tunnel/tcp 10.0.0.1:80', msg: 'dialed', session: 's-1', error: 'boom' },
    { time: '1970-01-01T00:00:00.000Z', level: 'error', msg: 'bad' },
  ]);
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
});

test('log levels parse leniently', () => {
  assert.equal(parseLogLevel('DEBUG'), 'debug');
  assert.equal(parseLogLevel('trace'), 'debug');
  assert.equal(parseLogLevel('warning'), 'warn');
  assert.equal(parseLogLevel(undefined), 'info');
  assert.equal(parseLogLevel('loud', 'error'), 'error');
});
