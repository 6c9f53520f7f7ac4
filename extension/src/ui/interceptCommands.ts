/** Intercept, Leave, Save Env File, Copy Preview Link and Show Intercepts. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import type { InterceptInfo, InterceptResult } from '../../../protocol/src/daemon';
import { formatEnv, type EnvSyntax } from '../../../common/src/envFile.js';
import {
  defaultPreviewBase,
  generatedHeaderValue,
  headerFromSetting,
  interceptName,
  interceptParams,
  interceptSummary,
  previewLink,
} from '../intercept/interceptOptions.js';
import { parseServicePortLabel } from '../intercept/interceptTarget.js';
import { toInterceptPickItem } from './converter.js';
import { reportingErrors } from './errors.js';
import type { Operations } from './operations.js';
import { askLocalPort, askMode, chooseIntercept, chooseTarget } from './pickers.js';
import type { UiContext } from './uiContext.js';

export function generateHeaderValue(): string {
  let user = 'dev';
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry (some containers): keep "dev".
  }
  return generatedHeaderValue(user, randomBytes(6).toString('hex'));
}

export function registerInterceptCommands(ui: UiContext, ops: Operations): vscode.Disposable[] {
  const run = (doing: string, f: (arg: unknown) => Promise<void>) => reportingErrors(ui, doing, f);
  return [
    vscode.commands.registerCommand('telepath.intercept', run('Cannot intercept', (arg) => intercept(ui, ops, arg))),
    vscode.commands.registerCommand('telepath.leave', run('Cannot leave the intercept', (arg) => leave(ui, ops, arg))),
    vscode.commands.registerCommand('telepath.saveEnvFile', run('Cannot save the environment', (arg) => saveEnvFile(ui, ops, arg))),
    vscode.commands.registerCommand('telepath.copyPreviewLink', run('Cannot copy the preview link', (arg) => copyPreviewLink(ui, arg))),
    vscode.commands.registerCommand('telepath.showIntercepts', run('Cannot show the intercepts', () => showIntercepts(ui))),
  ];
}

async function intercept(ui: UiContext, ops: Operations, arg: unknown): Promise<void> {
  const title = 'Telepath: Intercept';
  await ops.ensureConnected();
  const target = await chooseTarget(ops, arg, title);
  if (!target) return;
  const localPort = await askLocalPort(ui, target, title);
  if (localPort === undefined) return;
  const mode = await askMode(ui, title);
  if (!mode) return;
  const header = mode === 'global' ? undefined : headerFromSetting(ui.settings().defaultHeader, generateHeaderValue);
  const name = interceptName(target, ui.link.status?.intercepts ?? []);
  const result = await ops.intercept(interceptParams({ target, localPort, mode, name, ...(header ? { header } : {}) }));
  announce(ui, result);
}

/** Tells the user where the traffic goes and which header to send; buttons copy what they need. */
export function announce(ui: UiContext, result: InterceptResult): void {
  const summary = interceptSummary(result.intercept, result);
  const buttons = [...(summary.headers ? ['Copy Header'] : []), ...(summary.previewPath ? ['Copy Preview Link'] : []), 'Save Env File'];
  ui.log.info(summary.message);
  void vscode.window.showInformationMessage(summary.message, ...buttons).then(async (choice) => {
    if (choice === 'Copy Header' && summary.headers) {
      await vscode.env.clipboard.writeText(summary.headers);
      void vscode.window.setStatusBarMessage(`Copied ${summary.headers}`, 5000);
    } else if (choice === 'Copy Preview Link') {
      await vscode.commands.executeCommand('telepath.copyPreviewLink', result.intercept.name);
    } else if (choice === 'Save Env File') {
      await vscode.commands.executeCommand('telepath.saveEnvFile', result.intercept.name);
    }
  });
}

async function leave(ui: UiContext, ops: Operations, arg: unknown): Promise<void> {
  const chosen = await chooseIntercept(ui, arg, 'Telepath: Leave');
  if (!chosen) return;
  await ops.leave(chosen.name);
  void vscode.window.showInformationMessage(`Left intercept ${chosen.name}: its traffic goes to the pods again.`);
}

/**
 * The environment of an intercept started elsewhere (the CLI, another window, before a reload)
 * was never told to this window: starting the intercept again, with the same header, fetches it.
 */
export async function environmentOf(ui: UiContext, ops: Operations, info: InterceptInfo): Promise<InterceptResult | undefined> {
  const known = ui.registry.get(info.name);
  if (known) return known;
  const again = 'Intercept Again';
  const choice = await vscode.window.showWarningMessage(
    `This window did not start intercept ${info.name}, so it does not know the pod's environment. Start the intercept again (same port and header) to fetch it?`,
    again,
  );
  if (choice !== again) return undefined;
  return restartIntercept(ops, info);
}

/** Leaves and starts the same intercept again: same workload, port, local port, mode and header. */
export async function restartIntercept(ops: Operations, info: InterceptInfo): Promise<InterceptResult> {
  const port = parseServicePortLabel(info.servicePort);
  await ops.leave(info.name);
  return ops.intercept({
    workload: info.workload,
    namespace: info.namespace,
    localPort: info.localPort,
    name: info.name,
    mode: info.mode,
    ...(port ? { servicePort: `${port.service}/${port.portName || port.port}` } : {}),
    ...(info.mode === 'personal' && info.headers.length ? { headers: info.headers } : {}),
    ...(info.pathPrefix ? { pathPrefix: info.pathPrefix } : {}),
    ...(info.previewPath ? { preview: true } : {}),
  });
}

async function saveEnvFile(ui: UiContext, ops: Operations, arg: unknown): Promise<void> {
  const info = await chooseIntercept(ui, arg, 'Telepath: Save Env File');
  if (!info) return;
  const result = await environmentOf(ui, ops, info);
  if (!result) return;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(os.homedir());
  const uri = await vscode.window.showSaveDialog({
    title: `Save the environment of ${info.name}`,
    defaultUri: vscode.Uri.joinPath(folder, `${info.name}.env`),
    filters: { dotenv: ['env'], JSON: ['json'], 'Shell (export lines)': ['sh'] },
  });
  if (!uri) return;
  const syntax: EnvSyntax = uri.path.endsWith('.json') ? 'json' : uri.path.endsWith('.sh') ? 'sh' : 'dotenv';
  const text = formatEnv(result.environment, syntax);
  if (uri.scheme === 'file') {
    // It may hold the pod's secrets: only the user may read it.
    await fs.writeFile(uri.fsPath, text, { mode: 0o600 });
    await fs.chmod(uri.fsPath, 0o600);
  } else {
    await vscode.workspace.fs.writeFile(uri, Buffer.from(text));
  }
  void vscode.window.showInformationMessage(`Saved the environment of ${info.name} (${Object.keys(result.environment).length} variables) to ${path.basename(uri.fsPath)}.`);
}

async function copyPreviewLink(ui: UiContext, arg: unknown): Promise<void> {
  const info = await chooseIntercept(ui, arg, 'Telepath: Copy Preview Link', (i) => i.previewPath !== undefined);
  if (!info) return;
  if (!info.previewPath) {
    void vscode.window.showInformationMessage(`Intercept ${info.name} has no preview link: leave it and intercept again with "Personal with a preview link".`);
    return;
  }
  const port = parseServicePortLabel(info.servicePort);
  const key = `telepath.previewBase.${info.namespace}/${info.workload}`;
  const guess = ui.extension.workspaceState.get<string>(key) ?? (port ? defaultPreviewBase({ portLabel: info.servicePort, namespace: info.namespace, port: port.port }) : 'http://');
  const base = await vscode.window.showInputBox({
    title: 'Telepath: Copy Preview Link',
    prompt: `The URL your teammates open ${info.workload} at (its ingress, or the Service inside the cluster)`,
    value: guess,
    validateInput: (v) => (/^https?:\/\/[^/\s]+/.test(v.trim()) ? undefined : 'A URL such as https://shop.example.com'),
  });
  if (base === undefined) return;
  await ui.extension.workspaceState.update(key, base.trim());
  const link = previewLink(base.trim(), info.previewPath);
  await vscode.env.clipboard.writeText(link);
  void vscode.window.showInformationMessage(`Copied the preview link ${link}: whoever opens it gets your version of ${info.workload}.`);
}

interface ActionItem extends vscode.QuickPickItem {
  command: string;
}

async function showIntercepts(ui: UiContext): Promise<void> {
  await ui.link.ensureUp();
  const mine = ui.link.status?.intercepts ?? [];
  if (mine.length === 0) {
    const choice = await vscode.window.showInformationMessage('You have no intercepts.', 'Intercept…');
    if (choice) await vscode.commands.executeCommand('telepath.intercept');
    return;
  }
  const picked = await vscode.window.showQuickPick(mine.map(toInterceptPickItem), { title: 'Telepath: Your Intercepts', placeHolder: 'Intercept' });
  if (!picked) return;
  const i = picked.intercept;
  const actions: ActionItem[] = [
    { label: '$(debug-disconnect) Leave', command: 'telepath.leave' },
    { label: '$(file) Save Env File…', command: 'telepath.saveEnvFile' },
    ...(i.mode === 'personal' && i.headers.length ? [{ label: '$(copy) Copy Header', command: 'copyHeader' }] : []),
    ...(i.previewPath ? [{ label: '$(link) Copy Preview Link…', command: 'telepath.copyPreviewLink' }] : []),
  ];
  const action = await vscode.window.showQuickPick(actions, { title: `Telepath: intercept ${i.name}` });
  if (!action) return;
  if (action.command === 'copyHeader') {
    const text = i.headers.map((h) => `${h.name}: ${h.value}`).join('\n');
    await vscode.env.clipboard.writeText(text);
    void vscode.window.setStatusBarMessage(`Copied ${text}`, 5000);
    return;
  }
  await vscode.commands.executeCommand(action.command, i.name);
}
