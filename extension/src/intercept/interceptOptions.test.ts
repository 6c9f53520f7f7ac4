import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { InterceptInfo } from '../../../protocol/src/daemon';
import {
  checkLocalPort,
  defaultPreviewBase,
  generatedHeaderValue,
  headerFromSetting,
  interceptName,
  interceptParams,
  interceptSummary,
  previewLink,
} from './interceptOptions.js';
import { parseServicePortLabel, type InterceptTarget } from './interceptTarget.js';

const echo: InterceptTarget = { namespace: 'samples', workloadKind: 'Deployment', workload: 'echo', servicePort: 'http', portLabel: 'echo:http/8080', port: 8080, containerPort: 8080 };
const info: InterceptInfo = {
  name: 'echo', namespace: 'samples', workload: 'deployment/echo', servicePort: 'echo:http/8080', agentPort: 9900, localPort: 3000, mode: 'personal',
  headers: [{ name: 'x-telepath-intercept', value: 'alice-1a2b3c' }], state: 'active',
};

describe('intercept options', () => {
  test('the header setting: NAME=VALUE, NAME with a generated value, or empty for the daemon\'s', () => {
    assert.deepEqual(headerFromSetting('x-dev=alice', () => 'gen'), { name: 'x-dev', value: 'alice' });
    assert.deepEqual(headerFromSetting('x-telepath-intercept', () => 'alice-1a2b3c'), { name: 'x-telepath-intercept', value: 'alice-1a2b3c' });
    assert.equal(headerFromSetting('  ', () => 'gen'), undefined);
    assert.throws(() => headerFromSetting('x dev=1', () => 'gen'), /not an HTTP header name/);
    assert.throws(() => headerFromSetting('x-dev=', () => 'gen'), /empty value/);
    assert.equal(generatedHeaderValue('Alice.Smith', '3f9a1c'), 'alicesmith-3f9a1c');
  });

  test('params: personal with the header, preview, global; the workload with its kind unless a Deployment', () => {
    const header = { name: 'x-dev', value: 'alice' };
    assert.deepEqual(interceptParams({ target: echo, localPort: 3000, mode: 'personal', header, name: 'echo' }), {
      workload: 'echo', namespace: 'samples', localPort: 3000, servicePort: 'http', name: 'echo', mode: 'personal', headers: [header],
    });
    assert.equal(interceptParams({ target: echo, localPort: 3000, mode: 'preview', name: 'echo' }).preview, true);
    const global = interceptParams({ target: { ...echo, workloadKind: 'StatefulSet', workload: 'web' }, localPort: 1, mode: 'global', header, name: 'web' });
    assert.equal(global.workload, 'statefulset/web');
    assert.equal(global.mode, 'global');
    assert.equal(global.headers, undefined);
  });

  test('names: the workload\'s, unless I hold that name on another port', () => {
    assert.equal(interceptName(echo, []), 'echo');
    assert.equal(interceptName(echo, [info]), 'echo');
    assert.equal(interceptName({ ...echo, servicePort: 'echo-admin/http', portLabel: 'echo-admin:http/8081' }, [info]), 'echo-echo-admin-http');
  });

  test('local ports', () => {
    assert.equal(checkLocalPort('8080'), undefined);
    for (const bad of ['0', '65536', 'http', '80.5', '']) assert.equal(checkLocalPort(bad), 'A port number from 1 to 65535', bad);
  });

  test('what the user is told: where traffic goes and which header to send', () => {
    const s = interceptSummary({ ...info, mountPoint: '/tmp/telepath/echo' });
    assert.equal(
      s.message,
      'Intercepting echo:http/8080 of deployment/echo (samples) → localhost:3000. Personal: only requests with header "x-telepath-intercept: alice-1a2b3c" come to you; ' +
        'everyone else reaches the pods. Volumes are under /tmp/telepath/echo (TELEPATH_ROOT).',
    );
    assert.equal(s.headers, 'x-telepath-intercept: alice-1a2b3c');
    const g = interceptSummary({ ...info, mode: 'global', headers: [] }, { mountProblem: 'sshfs is not installed' });
    assert.match(g.message, /All its traffic comes to you\. The volumes are not mounted: sshfs is not installed$/);
    assert.equal(g.headers, undefined);
  });

  test('preview links', () => {
    assert.equal(defaultPreviewBase(echo), 'http://echo.samples:8080');
    assert.equal(previewLink('https://shop.example.com/', '/.telepath/preview/abc'), 'https://shop.example.com/.telepath/preview/abc');
    assert.deepEqual(parseServicePortLabel('echo:http/8080'), { service: 'echo', portName: 'http', port: 8080 });
    assert.deepEqual(parseServicePortLabel('grpc-echo:50051'), { service: 'grpc-echo', portName: '', port: 50051 });
  });
});
