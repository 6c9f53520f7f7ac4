/**
 * The VS Code extension's entry point. The cluster tree, status bar and "Intercept and Debug"
 * arrive with issue #5; everything they do goes through the daemon's JSON-RPC API.
 */
import * as vscode from 'vscode';
import { PRODUCT_VERSION, PROTOCOL_VERSION } from '../../protocol/src/version.js';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('telepath.showVersion', () =>
      vscode.window.showInformationMessage(`Telepath ${PRODUCT_VERSION} (protocol ${PROTOCOL_VERSION})`),
    ),
  );
}

export function deactivate(): void {}
