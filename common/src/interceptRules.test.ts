import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InterceptSpec } from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import { describeMatch, interceptConflict, specProblem } from './interceptRules.js';

const base: InterceptSpec = {
  name: 'echo',
  namespace: 'samples',
  workloadKind: 'Deployment',
  workloadName: 'echo',
  agentPort: 9900,
  global: false,
  headers: [{ name: 'x-telepath-intercept', value: 'abc' }],
  pathPrefix: '',
  previewToken: '',
  localPort: 8080,
};

test('personal intercepts with different headers coexist; the same match is refused', () => {
  const held = [{ spec: base, holder: 'alice@a', mine: false }];
  assert.equal(interceptConflict({ ...base, headers: [{ name: 'x-telepath-intercept', value: 'def' }] }, held), undefined);
  assert.match(
    interceptConflict({ ...base, headers: [{ name: 'X-Telepath-Intercept', value: 'abc' }] }, held) ?? '',
    /alice@a already intercepts the same requests on port 9900 of deployment samples\/echo \(x-telepath-intercept=abc\)/,
  );
});

test('global and personal exclude each other, naming the holders', () => {
  const personal = [{ spec: base, holder: 'alice@a', mine: false }];
  assert.match(interceptConflict({ ...base, global: true, headers: [] }, personal) ?? '', /has personal intercepts: alice@a \(x-telepath-intercept=abc\)/);
  const global = [{ spec: { ...base, name: 'g', global: true, headers: [] }, holder: 'bob@b', mine: true }];
  assert.match(interceptConflict(base, global) ?? '', /intercepted globally by you \(intercept g\)/);
});

test('specs that cannot be served are refused with a reason', () => {
  assert.match(specProblem({ ...base, headers: [], pathPrefix: '' }) ?? '', /needs at least one header or a path prefix/);
  assert.match(specProblem({ ...base, global: true }) ?? '', /cannot also match headers/);
  assert.match(specProblem({ ...base, pathPrefix: 'api' }) ?? '', /starts with "\/"/);
  assert.match(specProblem({ ...base, headers: [{ name: 'bad header', value: 'x' }] }) ?? '', /bad header name/);
  assert.equal(specProblem(base), undefined);
  assert.equal(describeMatch({ ...base, pathPrefix: '/api' }), 'x-telepath-intercept=abc, path /api*');
});
