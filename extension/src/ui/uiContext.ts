/** What every UI module is handed: the daemon link, the log, settings, and where things are. */
import type * as vscode from 'vscode';
import type { TelepathSettings } from '../config/settings.js';
import type { DaemonLink } from '../daemon/daemonLink.js';
import type { DebugSessionTracker } from '../debug/debugSessionTracker.js';
import type { InterceptRegistry } from '../intercept/interceptRegistry.js';

export interface UiContext {
  extension: vscode.ExtensionContext;
  log: vscode.LogOutputChannel;
  link: DaemonLink;
  registry: InterceptRegistry;
  debugSessions: DebugSessionTracker;
  /** The daemon's own log file. */
  daemonLogFile: string;
  /** dist/telepath.js, the CLI and daemon bundle beside the extension. */
  cliPath: string;
  settings(): TelepathSettings;
  /** The kubeconfig to pass to the daemon, or undefined for its default. */
  kubeconfig(): string | undefined;
}
