/** From the manager's intercepts to the router's rules. */
import type { InterceptInfo } from '../../protocol/src/gen/telepath/manager/v1/manager.js';
import type { InterceptRule } from './routing/portRouter.js';

export function toRule(i: InterceptInfo): InterceptRule {
  const spec = i.spec;
  return {
    id: i.id,
    global: spec?.global ?? false,
    headers: (spec?.headers ?? []).map((h) => ({ name: h.name, value: h.value })),
    pathPrefix: spec?.pathPrefix || undefined,
    previewToken: spec?.previewToken || undefined,
  };
}
