/**
 * A Service port that reaches a workload, with its intercept state: free, mine, someone's
 * personal intercept (another personal one may join), or someone's global one (nobody may join).
 */
import type { InterceptInfo, WorkloadInfo, WorkloadPort } from '../../../protocol/src/daemon';
import { interceptTarget, isInterceptable, type InterceptTarget } from '../intercept/interceptTarget.js';
import type { IconRef, Presentation } from './presentation.js';

export type PortState = 'free' | 'mine' | 'personal' | 'global' | 'unavailable';

export interface PortNode extends Presentation {
  kind: 'port';
  context: string;
  target: InterceptTarget;
  port: WorkloadPort;
  state: PortState;
  /** My intercept on this port, as the daemon's status describes it. */
  mine?: InterceptInfo;
}

const ICONS: Record<PortState, IconRef> = {
  free: { id: 'plug' },
  mine: { id: 'pass-filled', color: 'charts.green' },
  personal: { id: 'person', color: 'charts.yellow' },
  global: { id: 'globe', color: 'charts.red' },
  unavailable: { id: 'circle-slash' },
};

const CONTEXT_VALUES: Record<PortState, string> = {
  free: 'telepathPort',
  mine: 'telepathPort-mine',
  personal: 'telepathPort-other',
  global: 'telepathPort-global',
  unavailable: 'telepathPort-unavailable',
};

export function portNode(context: string, workload: WorkloadInfo, port: WorkloadPort, myIntercepts: InterceptInfo[]): PortNode {
  const target = interceptTarget(workload, port);
  const held = port.intercepts;
  const minePort = held.find((i) => i.mine);
  const mine = minePort ? myIntercepts.find((i) => i.name === minePort.name && i.namespace === workload.namespace) : undefined;
  const others = held.filter((i) => !i.mine);
  const state: PortState =
    !isInterceptable(port) ? 'unavailable'
    : minePort ? 'mine'
    : others.some((i) => i.mode === 'global') ? 'global'
    : others.length > 0 ? 'personal'
    : 'free';

  let description: string;
  switch (state) {
    case 'unavailable':
      description = `${port.protocol}: not interceptable`;
      break;
    case 'mine':
      description = `intercepted by you · ${minePort!.mode}${mine ? ` → localhost:${mine.localPort}` : ''}`;
      if (others.length > 0) description += ` · +${others.length} more`;
      break;
    case 'global':
      description = `global intercept by ${others.find((i) => i.mode === 'global')!.holder}`;
      break;
    case 'personal':
      description = others.length === 1 ? `personal intercept by ${others[0]!.holder}` : `${others.length} personal intercepts`;
      break;
    case 'free':
      description = 'not intercepted';
      break;
  }
  const tooltip = [
    `${target.portLabel} → container ${port.container}:${port.containerPort} (${port.protocol})`,
    ...held.map((i) => `${i.mode} intercept ${i.name} by ${i.holder} (${i.match})`),
    ...(mine ? mine.headers.map((h) => `Send header ${h.name}: ${h.value}`) : []),
    ...(mine?.previewPath ? [`Preview path ${mine.previewPath}`] : []),
  ].join('\n');
  return {
    kind: 'port',
    id: `port:${context}/${workload.namespace}/${workload.kind}/${workload.name}/${port.service}/${port.port}`,
    context,
    target,
    port,
    state,
    ...(mine ? { mine } : {}),
    label: target.portLabel,
    description,
    tooltip,
    icon: ICONS[state],
    contextValue: state === 'mine' && mine?.previewPath ? 'telepathPort-mine-preview' : CONTEXT_VALUES[state],
    collapsible: 'none',
  };
}
