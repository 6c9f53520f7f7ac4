/**
 * An InterceptSpec for tests: a personal intercept of deployment samples/echo, port 9900, matching
 * `x-telepath-intercept: abc`, going to local port 8080; `extra` changes any of it. Not a test
 * file itself (no .test.ts), so the runner does not run it.
 */
import type { InterceptSpec } from '../../../protocol/src/gen/telepath/manager/v1/manager.js';

export function testSpec(extra: Partial<InterceptSpec> = {}): InterceptSpec {
  return {
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
    ...extra,
  };
}
