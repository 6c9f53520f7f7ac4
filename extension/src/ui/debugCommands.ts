/**
 * "Intercept and Debug": choose a port, a local port and a mode, choose or create a launch
 * configuration, write its Telepath entry to launch.json, and start debugging it. The intercept
 * itself is started by the debug configuration provider, the same way F5 on the entry does.
 */
import * as vscode from 'vscode';
import { ALL_LANGUAGES, DEBUG_LANGUAGES, detectLanguages, type DebugLanguage } from '../debug/debugLanguages.js';
import { canBaseOn, launchEntry, launchEntryFrom } from '../debug/launchConfig.js';
import { findEntry, readConfigurations, type LaunchEntry } from '../debug/launchJson.js';
import { makeMarker, MARKER_PROPERTY, parseMarker, sameIntercept, type TelepathMarker } from '../debug/telepathMarker.js';
import { headerFromSetting, interceptName, workloadRef } from '../intercept/interceptOptions.js';
import { showError } from './errors.js';
import { generateHeaderValue } from './interceptCommands.js';
import { launchJsonUri, readLaunchJson, writeLaunchEntry } from './launchJsonWriter.js';
import type { Operations } from './operations.js';
import { askLocalPort, askMode, chooseTarget } from './pickers.js';
import type { UiContext } from './uiContext.js';
import { workspaceFacts } from './workspaceFacts.js';

const TITLE = 'Telepath: Intercept and Debug';

export function registerDebugCommands(ui: UiContext, ops: Operations): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('telepath.interceptAndDebug', async (arg: unknown) => {
      try {
        await interceptAndDebug(ui, ops, arg);
      } catch (e) {
        showError(ui, e, 'Cannot intercept and debug');
      }
    }),
  ];
}

interface ConfigItem extends vscode.QuickPickItem {
  language?: DebugLanguage;
  otherLanguage?: boolean;
  base?: Record<string, unknown>;
}

async function interceptAndDebug(ui: UiContext, ops: Operations, arg: unknown): Promise<void> {
  const folder = await chooseFolder();
  if (!folder) return;
  await ops.ensureConnected();
  const target = await chooseTarget(ops, arg, TITLE);
  if (!target) return;
  const localPort = await askLocalPort(ui, target, TITLE);
  if (localPort === undefined) return;
  const mode = await askMode(ui, TITLE);
  if (!mode) return;

  const configurations = readConfigurations(await readLaunchJson(folder));
  const probe = { workload: workloadRef(target), namespace: target.namespace };
  const existing = configurations.find((c) => {
    const m = parseMarker(c[MARKER_PROPERTY]);
    return typeof m !== 'string' && sameIntercept(m, probe);
  });
  // The same intercept keeps its header, so the header people were given stays valid.
  const existingMarker = existing ? (parseMarker(existing[MARKER_PROPERTY]) as TelepathMarker) : undefined;
  const setting = ui.settings().defaultHeader;
  const header =
    mode === 'global' ? undefined
    : existingMarker?.header && !setting.includes('=') ? { name: existingMarker.header.split('=')[0]!, value: existingMarker.header.slice(existingMarker.header.indexOf('=') + 1) }
    : headerFromSetting(setting, generateHeaderValue);
  const marker = makeMarker({
    workload: probe.workload,
    namespace: target.namespace,
    port: target.servicePort,
    localPort,
    mode,
    ...(header ? { header } : {}),
    name: interceptName(target, ui.link.status?.intercepts ?? []),
  });

  const facts = await workspaceFacts(folder);
  const detected = detectLanguages(facts);
  const items: ConfigItem[] = [];
  if (existing) items.push({ label: `$(debug-alt) ${String(existing.name)}`, description: 'update this Telepath configuration', base: existing });
  for (const l of detected) items.push({ label: `$(add) New ${DEBUG_LANGUAGES[l].label} configuration`, description: `type "${DEBUG_LANGUAGES[l].debugType}"`, language: l });
  items.push({ label: '$(add) New configuration for another language…', otherLanguage: true });
  const own = configurations.filter((c) => c[MARKER_PROPERTY] === undefined && canBaseOn(c));
  if (own.length) items.push({ label: 'Based on one of your configurations', kind: vscode.QuickPickItemKind.Separator });
  for (const c of own) items.push({ label: `$(copy) ${String(c.name)}`, description: `type "${String(c.type)}" — copied, yours stays as it is`, base: c });
  const picked = await vscode.window.showQuickPick(items, { title: TITLE, placeHolder: 'The launch configuration to debug with' });
  if (!picked) return;

  let entry: LaunchEntry;
  let placeholders: string[] = [];
  if (picked.base) {
    entry = launchEntryFrom(picked.base, marker);
  } else {
    const language = picked.language ?? (await pickLanguage());
    if (!language) return;
    if (!(await debuggerAvailable(language))) return;
    ({ entry, placeholders } = launchEntry(language, marker, facts));
  }
  const index = findEntry(configurations, entry);
  const { replaced } = await writeLaunchEntry(folder, entry);
  ui.log.info(`${replaced || index >= 0 ? 'updated' : 'added'} launch configuration "${entry.name}" in ${launchJsonUri(folder).fsPath}`);

  if (placeholders.length > 0) {
    const doc = await vscode.workspace.openTextDocument(launchJsonUri(folder));
    await vscode.window.showTextDocument(doc);
    void vscode.window.showInformationMessage(
      `"${entry.name}" is in launch.json; replace the placeholder in ${placeholders.map((p) => `"${p}"`).join(' and ')}, then start it from Run and Debug.`,
    );
    return;
  }
  const started = await vscode.debug.startDebugging(folder, entry);
  if (!started) ui.log.warn(`the debug session "${entry.name}" did not start`);
}

async function chooseFolder(): Promise<vscode.WorkspaceFolder | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) {
    void vscode.window.showWarningMessage('Open the folder of the service to debug first: its launch configuration goes in .vscode/launch.json.');
    return undefined;
  }
  if (folders.length === 1) return folders[0];
  return vscode.window.showWorkspaceFolderPick({ placeHolder: 'The folder of the service to debug' });
}

async function pickLanguage(): Promise<DebugLanguage | undefined> {
  const items = ALL_LANGUAGES.map((l) => ({ label: DEBUG_LANGUAGES[l].label, description: `type "${DEBUG_LANGUAGES[l].debugType}"`, language: l }));
  return (await vscode.window.showQuickPick(items, { title: TITLE, placeHolder: 'Language of the service' }))?.language;
}

/** Node's debugger is built in; the others come with an extension that must be installed. */
async function debuggerAvailable(language: DebugLanguage): Promise<boolean> {
  const id = DEBUG_LANGUAGES[language].extensionId;
  if (!id || vscode.extensions.getExtension(id)) return true;
  const install = 'Install';
  const choice = await vscode.window.showWarningMessage(
    `Debugging ${DEBUG_LANGUAGES[language].label} needs the extension ${id}, which is not installed.`,
    install,
    'Write the Configuration Anyway',
  );
  if (choice === install) {
    await vscode.commands.executeCommand('workbench.extensions.installExtension', id);
    return false;
  }
  return choice !== undefined;
}
