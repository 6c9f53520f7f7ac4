/**
 * Debug configurations marked `telepath`: before the debuggee starts, start (or reuse) the
 * intercept through the daemon and give the session the pod's environment; when the last
 * session using an intercept this provider started ends, leave it (unless
 * telepath.leaveOnDebugEnd is false).
 */
import * as vscode from 'vscode';
import type { InterceptInfo, InterceptResult } from '../../../protocol/src/daemon';
import { mergeDebugEnv } from '../debug/envMerge.js';
import { MARKER_PROPERTY, markerInterceptName, markerParams, parseMarker, workloadName, type TelepathMarker } from '../debug/telepathMarker.js';
import { showError } from './errors.js';
import { announce } from './interceptCommands.js';
import type { Operations } from './operations.js';
import type { UiContext } from './uiContext.js';

/** Where the session's configuration remembers which intercept it uses. */
export const SESSION_KEY = '__telepathSession';

export function registerDebugProvider(ui: UiContext, ops: Operations): vscode.Disposable[] {
  const provider: vscode.DebugConfigurationProvider = {
    resolveDebugConfigurationWithSubstitutedVariables: (_folder, config, token) => resolve(ui, ops, config, token),
  };
  return [
    vscode.debug.registerDebugConfigurationProvider('*', provider),
    vscode.debug.onDidTerminateDebugSession((session) => {
      const name = ui.debugSessions.end(session.configuration[SESSION_KEY]);
      // Gone already (left by hand, or the daemon restarted): nothing to leave.
      if (!name || !ui.link.status?.intercepts?.some((i) => i.name === name)) return;
      if (!ui.settings().leaveOnDebugEnd) {
        ui.log.info(`debug session "${session.name}" ended; intercept ${name} stays (telepath.leaveOnDebugEnd is false)`);
        return;
      }
      ops.leave(name).then(
        () => void vscode.window.setStatusBarMessage(`Telepath: left intercept ${name}`, 5000),
        (e: unknown) => showError(ui, e, `Cannot leave intercept ${name} after debugging`),
      );
    }),
  ];
}

async function resolve(
  ui: UiContext,
  ops: Operations,
  config: vscode.DebugConfiguration,
  token: vscode.CancellationToken | undefined,
): Promise<vscode.DebugConfiguration | undefined> {
  if (config[MARKER_PROPERTY] === undefined) return config;
  const marker = parseMarker(config[MARKER_PROPERTY]);
  if (typeof marker === 'string') {
    void vscode.window.showErrorMessage(marker);
    return undefined;
  }
  try {
    const status = await ops.ensureConnected(token);
    const name = markerInterceptName(marker);
    const held = status.intercepts?.find((i) => i.name === name);
    let result: InterceptResult;
    let started: boolean;
    const known = held ? ui.registry.get(name) : undefined;
    if (held && known && matches(held, marker)) {
      result = known;
      started = false;
      ui.log.info(`debug session "${config.name}" uses the running intercept ${name}`);
    } else {
      if (held && !sameWorkload(held, marker)) {
        throw new Error(`you already hold an intercept named ${name} on ${held.workload} (${held.namespace}); leave it, or give this configuration's "telepath" a "name"`);
      }
      // Ours, but changed in launch.json or started elsewhere: start it again, keeping its header.
      if (held) await ops.leave(name);
      result = await ops.intercept(markerParams(marker, held?.headers), token);
      started = true;
      announce(ui, result);
    }
    config.env = mergeDebugEnv(result.environment, result.intercept.mountPoint, config.env);
    config[SESSION_KEY] = ui.debugSessions.add(name, started);
    return config;
  } catch (e) {
    showError(ui, e, `Cannot start "${config.name}"`);
    return undefined;
  }
}

function sameWorkload(held: InterceptInfo, marker: TelepathMarker): boolean {
  return held.namespace === marker.namespace && workloadName(held.workload) === workloadName(marker.workload);
}

function matches(held: InterceptInfo, marker: TelepathMarker): boolean {
  return sameWorkload(held, marker) && held.localPort === marker.localPort && held.mode === marker.mode;
}
