import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildDaemonApiDocument, renderDaemonApiDocument } from './apiDocument.js';
import { daemonNotifications, daemonRequests } from './methods.js';

const file = path.resolve(import.meta.dirname, '../../daemonApi.openrpc.json');

test('protocol/daemonApi.openrpc.json is current (else run scripts/genProto.sh)', () => {
  assert.equal(readFileSync(file, 'utf8'), renderDaemonApiDocument());
});

/** Every "$ref" string anywhere in a JSON value. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refs(v, out));
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

test('the document lists every method and notification, and every $ref resolves', () => {
  const doc = buildDaemonApiDocument() as {
    methods: Array<{ name: string; result?: unknown; 'x-direction': string; }>;
    components: Record<string, Record<string, unknown>>;
  };
  const names = doc.methods.map((m) => m.name);
  assert.deepEqual(names, [
    ...Object.values(daemonRequests).map((r) => r.method),
    ...Object.values(daemonNotifications).map((n) => n.method),
  ]);
  for (const m of doc.methods) assert.equal(m.result === undefined, m['x-direction'] === 'daemon-to-client', m.name);
  for (const ref of refs(doc)) {
    const [, , section = '', name = ''] = ref.split('/');
    assert.ok(doc.components[section]?.[name] !== undefined, `dangling ${ref}`);
  }
  assert.ok(refs(doc).includes('#/components/errors/IncompatibleProtocol'));
});
