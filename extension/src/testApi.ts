/**
 * What activate() returns: a handle for the extension's own integration tests (test/exthost/), which
 * run inside the extension host beside it and reach it through vscode.extensions. Not an API for
 * other extensions. It shows what the user sees (the Clusters view's nodes, the connection state,
 * the log), so the tests can assert that without a browser.
 */
import type * as vscode from 'vscode';
import type { ConnectionView } from './status/connectionState.js';
import type { ClusterNode } from './tree/clusterNode.js';
import type { Event } from './util/emitter.js';

export interface TelepathTestApi {
  /** The Clusters view's data provider, asked as the view asks it. */
  readonly tree: vscode.TreeDataProvider<ClusterNode>;
  /** The connection as the status bar renders it. */
  view(): ConnectionView;
  /** Fires when the connection state or the daemon's status changed. */
  readonly onDidChange: Event<void>;
  /** The file behind the "Telepath" output channel. */
  readonly logFile: vscode.Uri;
}
