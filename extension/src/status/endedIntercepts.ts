/** Which of a status's ended intercepts have not been told yet; marks them told. Pure, for the UI's notice. */
import type { DaemonStatus, EndedIntercept } from '../../../protocol/src/daemon';

export function newEndedIntercepts(status: DaemonStatus | undefined, told: Set<string>): EndedIntercept[] {
  const out: EndedIntercept[] = [];
  for (const e of status?.endedIntercepts ?? []) {
    const key = `${e.name}@${e.at}`;
    if (told.has(key)) continue;
    told.add(key);
    out.push(e);
  }
  return out;
}
