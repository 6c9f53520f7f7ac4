import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testSpec } from '../../../../common/src/testing/interceptSpecs.js';
import type { InterceptInfo } from '../../../../protocol/src/gen/telepath/manager/v1/manager.js';
import { portIntercept } from './interceptService.js';

const spec = testSpec({ headers: [{ name: 'x-telepath-intercept', value: 'ab12' }], localPort: 3000 });

test("`telepath list` shows the caller's own match whole and another holder's values as (hidden)", () => {
  const mine: InterceptInfo = { id: '1', spec, clientName: 'me@here', mine: true, active: true };
  assert.deepEqual(portIntercept(mine), { name: 'echo', holder: 'you', mine: true, mode: 'personal', match: 'x-telepath-intercept=ab12' });
  // As the manager sends another holder's intercept: values blanked, names kept.
  const theirs: InterceptInfo = {
    id: '2',
    spec: { ...spec, headers: [{ name: 'x-telepath-intercept', value: '' }], pathPrefix: '/api', localPort: 0 },
    clientName: 'alice@laptop',
    mine: false,
    active: true,
  };
  assert.deepEqual(portIntercept(theirs), {
    name: 'echo',
    holder: 'alice@laptop',
    mine: false,
    mode: 'personal',
    match: 'x-telepath-intercept=(hidden), path /api*',
  });
  const global: InterceptInfo = { ...theirs, spec: { ...spec, global: true, headers: [] } };
  assert.equal(portIntercept(global).match, 'all traffic');
});
