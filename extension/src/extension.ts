/**
 * The VS Code extension's entry point: wires the daemon link, the cluster tree, the status bar,
 * the commands and the debug integration together. Everything it does goes through the daemon's
 * JSON-RPC API; everything it registers goes into context.subscriptions.
 */
import os from 'node:os';
import path from 'node:path';
import * as vscode from 'vscode';
import { daemonPaths, socketDirProblem } from '../../common/src/daemonPaths.js';
import { PRODUCT_VERSION } from '../../protocol/src/version.js';
import { DEFAULT_SETTINGS, resolveKubeconfig, type TelepathSettings } from './config/settings.js';
import { DaemonConnection } from './daemon/daemonConnection.js';
import { DaemonStartError, launchDaemon } from './daemon/daemonLauncher.js';
import { DaemonLink } from './daemon/daemonLink.js';
import { DebugSessionTracker } from './debug/debugSessionTracker.js';
import { InterceptRegistry } from './intercept/interceptRegistry.js';
import type { TelepathTestApi } from './testApi.js';
import { ClusterTreeProvider } from './ui/clusterTreeProvider.js';
import { registerConnectionCommands } from './ui/connectionCommands.js';
import { registerDebugCommands } from './ui/debugCommands.js';
import { registerDebugProvider } from './ui/debugProvider.js';
import { registerInterceptCommands } from './ui/interceptCommands.js';
import { watchNetworkRole } from './ui/networkRoleNotice.js';
import { watchEndedIntercepts } from './ui/endedInterceptNotice.js';
import { Operations } from './ui/operations.js';
import { TelepathStatusBar } from './ui/statusBar.js';
import type { UiContext } from './ui/uiContext.js';

export const CLUSTERS_VIEW = 'telepath.clusters';

export function activate(context: vscode.ExtensionContext): TelepathTestApi {
  const log = vscode.window.createOutputChannel('Telepath', { log: true });
  context.subscriptions.push(log);
  const paths = daemonPaths();
  // The CLI and daemon bundle ships in the same dist/ as this one.
  const cliPath = path.join(__dirname, 'telepath.js');
  const daemonPath = path.join(__dirname, 'telepathd.js');
  // A socket in a directory someone else controls may be theirs: neither talk to it nor start a
  // daemon there (common/src/privateDir.ts).
  const guardSocketDir = (): void => {
    const problem = socketDirProblem(paths);
    if (problem) throw new DaemonStartError(problem);
  };
  const link = new DaemonLink({
    socketPath: paths.socket,
    clientName: 'vscode',
    clientVersion: PRODUCT_VERSION,
    log,
    open: async (socketPath, token) => {
      guardSocketDir();
      return DaemonConnection.open(socketPath, token);
    },
    launch: async (token) => {
      guardSocketDir();
      return launchDaemon(
        { execPath: process.execPath, daemonPath, socketPath: paths.socket, logFile: paths.logFile, env: process.env, cwd: os.homedir() },
        log,
        token,
      );
    },
  });
  context.subscriptions.push(link);

  const ui: UiContext = {
    extension: context,
    log,
    link,
    registry: new InterceptRegistry(),
    debugSessions: new DebugSessionTracker(),
    daemonLogFile: paths.logFile,
    cliPath,
    settings: readSettings,
    kubeconfig: () => resolveKubeconfig(readSettings().kubeconfig, process.env, vscode.workspace.workspaceFolders?.[0]?.uri.fsPath),
  };
  const ops = new Operations(ui);
  context.subscriptions.push(
    link.onDidChange(() => {
      if (link.state === 'up') ui.registry.sync(link.status?.intercepts ?? []);
    }),
  );

  const tree = new ClusterTreeProvider(ui, ops, CLUSTERS_VIEW);
  context.subscriptions.push(tree, vscode.window.registerTreeDataProvider(CLUSTERS_VIEW, tree));
  context.subscriptions.push(new TelepathStatusBar(ui, ops));
  context.subscriptions.push(
    ...registerConnectionCommands(ui, ops, () => tree.refresh()),
    ...registerInterceptCommands(ui, ops),
    ...registerDebugCommands(ui, ops),
    ...registerDebugProvider(ui, ops),
    watchNetworkRole(ui, ops),
    watchEndedIntercepts(ui),
  );
  log.info(`Telepath ${PRODUCT_VERSION} active; daemon socket ${paths.socket}`);
  // Find a daemon that already runs; one is started only when the view or a command needs it.
  void link.attach();
  return {
    tree,
    view: () => ops.view(),
    onDidChange: link.onDidChange,
    // Where VS Code writes a log output channel: <logUri>/<name>.log.
    logFile: vscode.Uri.joinPath(context.logUri, 'Telepath.log'),
  };
}

export function deactivate(): void {}

function readSettings(): TelepathSettings {
  const c = vscode.workspace.getConfiguration('telepath');
  const mode = c.get<string>('defaultInterceptMode', DEFAULT_SETTINGS.defaultInterceptMode);
  return {
    kubeconfig: c.get<string>('kubeconfig', DEFAULT_SETTINGS.kubeconfig),
    context: c.get<string>('context', DEFAULT_SETTINGS.context),
    namespace: c.get<string>('namespace', DEFAULT_SETTINGS.namespace),
    defaultInterceptMode: mode === 'global' ? 'global' : 'personal',
    defaultHeader: c.get<string>('defaultHeader', DEFAULT_SETTINGS.defaultHeader),
    leaveOnDebugEnd: c.get<boolean>('leaveOnDebugEnd', DEFAULT_SETTINGS.leaveOnDebugEnd),
  };
}
