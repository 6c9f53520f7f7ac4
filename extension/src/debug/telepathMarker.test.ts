import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeMarker, markerInterceptName, markerParams, parseMarker, sameIntercept } from './telepathMarker.js';

describe('the telepath marker of a launch configuration', () => {
  test('made in reading order, with only what applies', () => {
    const m = makeMarker({ workload: 'echo', namespace: 'samples', port: 'http', localPort: 8080, mode: 'preview', header: { name: 'x-dev', value: 'alice' }, name: 'echo' });
    assert.deepEqual(Object.entries(m), [['workload', 'echo'], ['namespace', 'samples'], ['port', 'http'], ['localPort', 8080], ['mode', 'personal'], ['header', 'x-dev=alice'], ['preview', true]]);
    assert.deepEqual(makeMarker({ workload: 'echo', namespace: 's', localPort: 1, mode: 'global', header: { name: 'x', value: 'y' } }), { workload: 'echo', namespace: 's', localPort: 1, mode: 'global' });
  });

  test('parsed back from launch.json, and its intercept params', () => {
    const m = parseMarker({ workload: 'statefulset/web', namespace: 'samples', port: 80, localPort: 8081, mode: 'personal', header: 'x-dev=alice=1' });
    assert.equal(typeof m, 'object');
    if (typeof m === 'string') return;
    assert.equal(m.port, '80');
    assert.equal(markerInterceptName(m), 'web');
    assert.deepEqual(markerParams(m), {
      workload: 'statefulset/web', namespace: 'samples', localPort: 8081, name: 'web', mode: 'personal', servicePort: '80',
      headers: [{ name: 'x-dev', value: 'alice=1' }],
    });
  });

  test('a personal marker without a header keeps the header of the intercept it replaces', () => {
    const m = parseMarker({ workload: 'echo', namespace: 'samples', localPort: 8080 });
    assert.ok(typeof m !== 'string');
    assert.equal(m.mode, 'personal');
    assert.deepEqual(markerParams(m, [{ name: 'x-telepath-intercept', value: 'ab12' }]).headers, [{ name: 'x-telepath-intercept', value: 'ab12' }]);
    assert.equal(markerParams(m).headers, undefined);
  });

  test('mistakes are explained, all at once', () => {
    const problem = parseMarker({ workload: '', localPort: 70000, mode: 'sometimes', header: 'no-equals' });
    assert.equal(typeof problem, 'string');
    for (const part of ['"workload" must be', '"namespace" must be', '"localPort" must be a port number', '"mode" must be', '"header" must be NAME=VALUE']) {
      assert.ok((problem as string).includes(part), `${part} in ${problem as string}`);
    }
    assert.match(parseMarker('echo') as string, /must be an object/);
    assert.match(parseMarker({ workload: 'e', namespace: 'n', localPort: 1, mode: 'global', preview: true }) as string, /global intercept takes all traffic/);
  });

  test('the same intercept: same workload (with or without kind) and namespace', () => {
    assert.equal(sameIntercept({ workload: 'echo', namespace: 'a' }, { workload: 'deployment/echo', namespace: 'a' }), true);
    assert.equal(sameIntercept({ workload: 'echo', namespace: 'a' }, { workload: 'echo', namespace: 'b' }), false);
  });
});
