/**
 * The one place where the extension's plain data becomes VS Code types (in the manner of LSP's
 * protocolConverter): tree nodes to TreeItems, status presentations to the status bar item,
 * intercepts to quick pick items.
 */
import * as vscode from 'vscode';
import type { InterceptInfo } from '../../../protocol/src/daemon';
import type { StatusPresentation } from '../status/statusPresentation.js';
import type { ClusterNode } from '../tree/clusterNode.js';
import type { IconRef } from '../tree/presentation.js';

const COLLAPSIBLE = {
  none: vscode.TreeItemCollapsibleState.None,
  collapsed: vscode.TreeItemCollapsibleState.Collapsed,
  expanded: vscode.TreeItemCollapsibleState.Expanded,
} as const;

export function toThemeIcon(icon: IconRef): vscode.ThemeIcon {
  return icon.color ? new vscode.ThemeIcon(icon.id, new vscode.ThemeColor(icon.color)) : new vscode.ThemeIcon(icon.id);
}

export function toTreeItem(node: ClusterNode): vscode.TreeItem {
  const item = new vscode.TreeItem(node.label, COLLAPSIBLE[node.collapsible]);
  item.id = node.id;
  if (node.description !== undefined) item.description = node.description;
  if (node.tooltip !== undefined) item.tooltip = node.tooltip;
  item.iconPath = toThemeIcon(node.icon);
  item.contextValue = node.contextValue;
  if (node.command) item.command = { command: node.command.command, title: node.command.title, arguments: node.command.arguments ?? [] };
  return item;
}

export function applyStatus(item: vscode.StatusBarItem, p: StatusPresentation): void {
  item.text = p.text;
  item.tooltip = p.tooltip;
  item.backgroundColor =
    p.background === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground')
    : p.background === 'warning' ? new vscode.ThemeColor('statusBarItem.warningBackground')
    : undefined;
}

export interface InterceptPickItem extends vscode.QuickPickItem {
  intercept: InterceptInfo;
}

export function toInterceptPickItem(i: InterceptInfo): InterceptPickItem {
  const match = i.mode === 'global' ? 'all traffic' : [...i.headers.map((h) => `${h.name}: ${h.value}`), i.pathPrefix ? `path ${i.pathPrefix}` : ''].filter(Boolean).join(', ');
  return {
    label: i.name,
    description: `${i.workload} · ${i.namespace} · ${i.servicePort} → localhost:${i.localPort}`,
    detail: `${i.mode}${match ? `: ${match}` : ''}${i.state === 'waiting' ? ' (waiting for the traffic-manager)' : ''}${i.previewPath ? ` · preview ${i.previewPath}` : ''}`,
    iconPath: new vscode.ThemeIcon(i.mode === 'global' ? 'globe' : 'person'),
    intercept: i,
  };
}
