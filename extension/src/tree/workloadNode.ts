/** A Deployment, StatefulSet or ReplicaSet, with the presence of its traffic-agent. */
import type { InterceptInfo, WorkloadInfo } from '../../../protocol/src/daemon';
import type { IconRef, Presentation } from './presentation.js';

export interface WorkloadNode extends Presentation {
  kind: 'workload';
  context: string;
  workload: WorkloadInfo;
  /** The caller's intercepts (DaemonStatus.intercepts), for the ports' state. */
  mine: InterceptInfo[];
}

const KIND_ICONS: Record<WorkloadInfo['kind'], string> = {
  Deployment: 'server-process',
  StatefulSet: 'database',
  ReplicaSet: 'layers',
};

const AGENT_TEXT: Record<WorkloadInfo['agent'], string> = {
  none: 'no agent',
  installed: 'agent installed',
  ready: 'agent ready',
};

export function workloadNode(context: string, w: WorkloadInfo, mine: InterceptInfo[]): WorkloadNode {
  const intercepts = w.ports.reduce((n, p) => n + p.intercepts.length, 0);
  const mineHere = w.ports.some((p) => p.intercepts.some((i) => i.mine));
  const interceptable = w.ports.some((p) => p.protocol === 'TCP');
  const parts = [w.kind, w.problem ? 'cannot be intercepted' : AGENT_TEXT[w.agent]];
  if (intercepts > 0) parts.push(`${intercepts} intercept${intercepts === 1 ? '' : 's'}`);
  const icon: IconRef = { id: KIND_ICONS[w.kind] };
  if (w.agent === 'ready') icon.color = 'charts.green';
  else if (w.agent === 'installed') icon.color = 'charts.yellow';
  const tooltip = [
    `${w.kind} ${w.name} in namespace ${w.namespace}`,
    `Traffic agent: ${AGENT_TEXT[w.agent]}`,
    w.problem ? `Cannot be intercepted: ${w.problem}` : '',
  ].filter(Boolean).join('\n');
  return {
    kind: 'workload',
    id: `workload:${context}/${w.namespace}/${w.kind}/${w.name}`,
    context,
    workload: w,
    mine,
    label: w.name,
    description: parts.join(' · '),
    tooltip,
    icon,
    contextValue: interceptable && !w.problem ? 'telepathWorkload' : 'telepathWorkload-unavailable',
    collapsible: w.ports.length === 0 ? 'none' : mineHere ? 'expanded' : 'collapsed',
  };
}
