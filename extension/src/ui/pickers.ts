/** The questions the intercept commands ask: which port, which local port, which mode, which intercept. */
import * as vscode from 'vscode';
import type { InterceptInfo, WorkloadInfo } from '../../../protocol/src/daemon';
import { checkLocalPort, type InterceptMode } from '../intercept/interceptOptions.js';
import { interceptTarget, isInterceptable, type InterceptTarget } from '../intercept/interceptTarget.js';
import type { ClusterNode } from '../tree/clusterNode.js';
import { toInterceptPickItem } from './converter.js';
import type { Operations } from './operations.js';
import type { UiContext } from './uiContext.js';

interface TargetItem extends vscode.QuickPickItem {
  target?: InterceptTarget;
  otherNamespace?: boolean;
}

/** The port to intercept: from the tree node the command was run on, else asked. */
export async function chooseTarget(ops: Operations, arg: unknown, title: string): Promise<InterceptTarget | undefined> {
  const node = arg as ClusterNode | undefined;
  if (node?.kind === 'port') return node.target;
  if (node?.kind === 'workload') return pickPort([node.workload], title, false);
  const status = await ops.ensureConnected();
  let namespace = status.namespace ?? 'default';
  for (;;) {
    const list = await ops.list(namespace);
    const picked = await pickPortOrNamespace(list.workloads, namespace, title);
    if (picked === undefined) return undefined;
    if (picked === 'other') {
      const ns = await pickNamespace(ops, `${title}: namespace`, namespace);
      if (!ns) return undefined;
      namespace = ns;
      continue;
    }
    return picked;
  }
}

function portItems(workloads: WorkloadInfo[]): TargetItem[] {
  const items: TargetItem[] = [];
  for (const w of workloads) {
    for (const p of w.ports) {
      if (!isInterceptable(p)) continue;
      const target = interceptTarget(w, p);
      const held = p.intercepts.map((i) => (i.mine ? `yours (${i.mode})` : `${i.mode} by ${i.holder}`));
      items.push({
        label: `${w.name}  ${target.portLabel}`,
        description: `${w.kind} · container port ${p.containerPort}`,
        ...(held.length ? { detail: `intercepted: ${held.join(', ')}` } : {}),
        target,
      });
    }
  }
  return items;
}

async function pickPort(workloads: WorkloadInfo[], title: string, offerOtherNamespace: boolean): Promise<InterceptTarget | undefined> {
  const items = portItems(workloads);
  if (items.length === 1 && !offerOtherNamespace) return items[0]!.target;
  if (items.length === 0 && !offerOtherNamespace) {
    void vscode.window.showWarningMessage(`${workloads[0]?.name ?? 'The workload'} has no TCP port that a Service reaches, so nothing can be intercepted.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(items, { title, placeHolder: 'The workload and Service port to intercept', matchOnDescription: true });
  return picked?.target;
}

async function pickPortOrNamespace(workloads: WorkloadInfo[], namespace: string, title: string): Promise<InterceptTarget | 'other' | undefined> {
  const items: TargetItem[] = [
    ...portItems(workloads),
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    { label: '$(symbol-namespace) Another namespace…', otherNamespace: true },
  ];
  const picked = await vscode.window.showQuickPick(items, {
    title: `${title} (namespace ${namespace})`,
    placeHolder: items.length > 2 ? 'The workload and Service port to intercept' : `Nothing to intercept in namespace ${namespace}`,
    matchOnDescription: true,
  });
  if (!picked) return undefined;
  return picked.otherNamespace ? 'other' : picked.target;
}

export async function pickNamespace(ops: Operations, title: string, current?: string): Promise<string | undefined> {
  const namespaces = await ops.namespaces();
  const items = [...namespaces].sort().map((ns) => ({ label: ns, ...(ns === current ? { description: 'current' } : {}) }));
  items.sort((a, b) => (a.label === current ? -1 : b.label === current ? 1 : 0));
  return (await vscode.window.showQuickPick(items, { title, placeHolder: 'Namespace' }))?.label;
}

/** The port the local process listens on; remembered per workload in this workspace. */
export async function askLocalPort(ui: UiContext, target: InterceptTarget, title: string): Promise<number | undefined> {
  const key = `telepath.localPort.${target.namespace}/${target.workload}/${target.servicePort}`;
  const remembered = ui.extension.workspaceState.get<number>(key);
  const value = await vscode.window.showInputBox({
    title,
    prompt: `The local port that receives ${target.portLabel} of ${target.workload}: where your process listens`,
    value: String(remembered ?? target.containerPort),
    validateInput: checkLocalPort,
  });
  if (value === undefined) return undefined;
  const port = Number(value.trim());
  await ui.extension.workspaceState.update(key, port);
  return port;
}

interface ModeItem extends vscode.QuickPickItem {
  mode: InterceptMode;
}

export async function askMode(ui: UiContext, title: string): Promise<InterceptMode | undefined> {
  const header = ui.settings().defaultHeader.trim() || 'x-telepath-intercept';
  const name = header.includes('=') ? header.slice(0, header.indexOf('=')) : header;
  const items: ModeItem[] = [
    { label: 'Personal', description: `only requests with header ${name}`, mode: 'personal' },
    { label: 'Personal with a preview link', description: 'and a link that sets the header for a browser', mode: 'preview' },
    { label: 'Global', description: 'all traffic of the port', mode: 'global' },
  ];
  const first = ui.settings().defaultInterceptMode;
  items.sort((a, b) => (a.mode === first ? -1 : b.mode === first ? 1 : 0));
  return (await vscode.window.showQuickPick(items, { title, placeHolder: 'Which traffic comes to your workstation' }))?.mode;
}

/** One of my intercepts: the one a tree node shows, else asked. */
export async function chooseIntercept(ui: UiContext, arg: unknown, title: string, filter: (i: InterceptInfo) => boolean = () => true): Promise<InterceptInfo | undefined> {
  const mine = ui.link.status?.intercepts ?? [];
  const node = arg as ClusterNode | undefined;
  if (node?.kind === 'port' && node.mine) return node.mine;
  if (typeof arg === 'string') return mine.find((i) => i.name === arg);
  const candidates = mine.filter(filter);
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(mine.length === 0 ? 'You have no intercepts.' : 'None of your intercepts fits.');
    return undefined;
  }
  return (await vscode.window.showQuickPick(candidates.map(toInterceptPickItem), { title, placeHolder: 'Intercept' }))?.intercept;
}
