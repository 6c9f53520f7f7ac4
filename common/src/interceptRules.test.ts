import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeMatch, HIDDEN, interceptConflict, redactSpec, specProblem, takesEverything } from './interceptRules.js';
import { testSpec } from './testing/interceptSpecs.js';

const base = testSpec();

test('personal intercepts with different headers coexist; the same match is refused', () => {
  const held = [{ spec: base, holder: 'alice@a', mine: false }];
  assert.equal(interceptConflict({ ...base, headers: [{ name: 'x-telepath-intercept', value: 'def' }] }, held), undefined);
  assert.match(
    interceptConflict({ ...base, headers: [{ name: 'X-Telepath-Intercept', value: 'abc' }] }, held) ?? '',
    /alice@a already intercepts the same requests on port 9900 of deployment samples\/echo \(x-telepath-intercept=\(hidden\)\)/,
  );
});

test('global and personal exclude each other, naming the holders', () => {
  const personal = [{ spec: base, holder: 'alice@a', mine: false }];
  assert.match(interceptConflict({ ...base, global: true, headers: [] }, personal) ?? '', /has personal intercepts: alice@a \(x-telepath-intercept=\(hidden\)\)/);
  assert.match(interceptConflict({ ...base, global: true, headers: [] }, [{ ...personal[0]!, mine: true }]) ?? '', /has personal intercepts: you \(x-telepath-intercept=abc\)/);
  const global = [{ spec: { ...base, name: 'g', global: true, headers: [] }, holder: 'bob@b', mine: true }];
  assert.match(interceptConflict(base, global) ?? '', /intercepted globally by you \(intercept g\)/);
});

test('specs that cannot be served are refused with a reason', () => {
  assert.match(specProblem({ ...base, headers: [], pathPrefix: '' }) ?? '', /needs at least one header or a path prefix.*matches every request, so it is global/);
  assert.match(specProblem({ ...base, global: true }) ?? '', /cannot also match headers/);
  assert.match(specProblem({ ...base, pathPrefix: 'api' }) ?? '', /starts with "\/"/);
  assert.match(specProblem({ ...base, headers: [{ name: 'bad header', value: 'x' }] }) ?? '', /bad header name/);
  assert.equal(specProblem(base), undefined);
  assert.equal(describeMatch({ ...base, pathPrefix: '/api' }), 'x-telepath-intercept=abc, path /api*');
});

test('a personal intercept with no header and no path beyond "/" matches every request, so it is global', () => {
  const slash = { ...base, name: 'all', headers: [], pathPrefix: '/' };
  const empty = { ...base, name: 'all', headers: [], pathPrefix: '' };
  assert.equal(takesEverything(slash), true, '"/" alone');
  assert.equal(takesEverything(empty), true, '"" alone');
  assert.equal(takesEverything({ ...slash, previewToken: 'tok' }), true, 'a preview cookie narrows nothing: the path alone already matches');
  assert.equal(takesEverything({ ...slash, headers: base.headers }), false, '"/" with a header is personal');
  assert.equal(takesEverything({ ...base, headers: [], pathPrefix: '/api' }), false, '"/api" is personal');
  assert.equal(specProblem(slash), undefined, 'it can be served, as a global one');
  assert.equal(describeMatch(slash), 'every request (path /*)');

  // Existing personal, new match-all: refused, saying why.
  const personal = [{ spec: base, holder: 'alice@a', mine: false }];
  assert.match(
    interceptConflict(slash, personal) ?? '',
    /port 9900 of deployment samples\/echo has personal intercepts: alice@a \(x-telepath-intercept=\(hidden\)\); intercept all matches every request, so it is global, and a global intercept needs the port to itself/,
  );
  assert.match(interceptConflict(empty, personal) ?? '', /matches every request, so it is global/);
  // Existing match-all, new personal (or new global): refused.
  const held = [{ spec: slash, holder: 'bob@b', mine: false }];
  assert.match(
    interceptConflict(base, held) ?? '',
    /port 9900 of deployment samples\/echo is intercepted by bob@b \(intercept all, which matches every request, so it is global\); nothing else/,
  );
  assert.match(interceptConflict({ ...base, headers: [], pathPrefix: '/api' }, held) ?? '', /matches every request, so it is global/);
  assert.match(interceptConflict({ ...base, global: true, headers: [] }, held) ?? '', /matches every request, so it is global/);
  // Personal intercepts that narrow the requests still share the port.
  assert.equal(interceptConflict({ ...slash, headers: [{ name: 'x-dev', value: 'c' }] }, personal), undefined);
  assert.equal(interceptConflict({ ...base, headers: [], pathPrefix: '/api' }, personal), undefined);
});

test("another client's spec keeps what it matches on and loses what joins it", () => {
  const spec = { ...base, pathPrefix: '/api', previewToken: 'tok' };
  const seen = redactSpec(spec);
  assert.deepEqual(seen, { ...spec, headers: [{ name: 'x-telepath-intercept', value: '' }], previewToken: '', localPort: 0 });
  assert.equal(takesEverything(seen), false, 'still personal: the header names stay');
  assert.equal(describeMatch(seen, true), `x-telepath-intercept=${HIDDEN}, path /api*`);
  assert.equal(describeMatch(spec), 'x-telepath-intercept=abc, path /api*');
});
