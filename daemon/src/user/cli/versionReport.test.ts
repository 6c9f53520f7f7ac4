import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatApiRange, OWN_API, PRODUCT_VERSION, PROTOCOL_VERSION } from '../../../../protocol/src/version.js';
import { versionReport } from './versionReport.js';

const own = formatApiRange(OWN_API);

test('telepath version without a daemon: the client alone', () => {
  const r = versionReport(undefined);
  assert.equal(
    r.text,
    `Client:          telepath ${PRODUCT_VERSION} (protocol ${PROTOCOL_VERSION}, API levels ${own})\n` +
      'Daemon:          not running\n' +
      'Traffic manager: not connected\n',
  );
  assert.deepEqual(r.json, {
    client: PRODUCT_VERSION,
    protocol: PROTOCOL_VERSION,
    apiLevels: own,
    daemon: null,
    trafficManager: null,
    trafficManagerApiLevels: null,
    managerDecision: null,
  });
});

test('telepath version when connected: both versions and what connect did', () => {
  const manager = { found: '0.1.0', action: 'upgrade' as const, message: `traffic-manager 0.1.0 found (this client ${PRODUCT_VERSION}): upgrading it` };
  const r = versionReport({ daemonVersion: PRODUCT_VERSION, protocolVersion: PROTOCOL_VERSION, managerVersion: PRODUCT_VERSION, managerApiLevels: own, manager });
  assert.match(r.text, new RegExp(`^Traffic manager: ${PRODUCT_VERSION} \\(API levels ${own}\\)$`, 'm'));
  assert.match(r.text, /^On connect: {6}traffic-manager 0\.1\.0 found \(this client .*\): upgrading it$/m);
  assert.equal(r.json.trafficManager, PRODUCT_VERSION);
  assert.deepEqual(r.json.managerDecision, manager);
});

test('telepath version against a newer manager that this client uses', () => {
  const manager = { found: '0.3.0', action: 'use' as const, message: `traffic-manager 0.3.0 found (this client ${PRODUCT_VERSION}): newer than this client; using it` };
  const r = versionReport({ daemonVersion: PRODUCT_VERSION, protocolVersion: PROTOCOL_VERSION, managerVersion: '0.3.0', managerApiLevels: '1-3', manager });
  assert.match(r.text, /^Traffic manager: 0\.3\.0 \(API levels 1-3\)$/m);
  assert.match(r.text, /newer than this client; using it$/m);
  assert.equal(r.json.managerDecision?.action, 'use');
});
