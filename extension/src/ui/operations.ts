/**
 * The daemon requests the commands and the debug provider share, with VS Code's progress
 * notifications around the long ones. Everything goes through the daemon's JSON-RPC API.
 */
import * as vscode from 'vscode';
import type { CancellationToken } from 'vscode-jsonrpc';
import {
  daemonRequests,
  type ConnectParams,
  type ContextsResult,
  type DaemonStatus,
  type InterceptParams,
  type InterceptResult,
  type ListResult,
} from '../../../protocol/src/daemon';
import { connectionView, type ConnectionView } from '../status/connectionState.js';
import { DeadlineError, withDeadline } from '../util/cancellation.js';
import type { UiContext } from './uiContext.js';

/** Quick questions (status, list, contexts): a generous deadline, never forever; the caller may cancel sooner. */
const QUICK_MS = 30_000;
/** Connect installs the manager, intercept may roll a workload out: minutes, and cancellable. */
const LONG_MS = 10 * 60_000;

let progressTokens = 0;

export class Operations {
  constructor(private readonly ui: UiContext) {}

  view(): ConnectionView {
    return connectionView(this.ui.link.state, this.ui.link.status, this.ui.link.failure);
  }

  /** Connected (or reconnecting) status; connects with the settings when not connected. */
  async ensureConnected(token?: vscode.CancellationToken): Promise<DaemonStatus> {
    await this.ui.link.ensureUp(token);
    const status = this.ui.link.status;
    if (status && (status.state === 'connected' || status.state === 'reconnecting')) return status;
    return this.connect({}, token);
  }

  /** Connects with the settings, overridden by `choice`. */
  connect(choice: { context?: string; namespace?: string }, token?: vscode.CancellationToken): Promise<DaemonStatus> {
    const s = this.ui.settings();
    const params: ConnectParams = {};
    const context = choice.context ?? (s.context || undefined);
    const namespace = choice.namespace ?? (s.namespace || undefined);
    const kubeconfig = this.ui.kubeconfig();
    if (context) params.context = context;
    if (namespace) params.namespace = namespace;
    if (kubeconfig) params.kubeconfig = kubeconfig;
    const where = context ? `${context}${namespace ? `/${namespace}` : ''}` : 'the cluster';
    return this.withProgress(`Telepath: connecting to ${where}`, LONG_MS, token, (t, progressToken) =>
      this.ui.link.request(daemonRequests.connect, { ...params, progressToken }, t),
    );
  }

  async disconnect(): Promise<void> {
    await this.quick((t) => this.ui.link.request(daemonRequests.disconnect, {}, t), 'disconnect');
  }

  async intercept(params: InterceptParams, token?: vscode.CancellationToken): Promise<InterceptResult> {
    const what = `${params.workload}${params.servicePort ? ` (${params.servicePort})` : ''}`;
    const result = await this.withProgress(`Telepath: intercepting ${what}`, LONG_MS, token, (t, progressToken) =>
      this.ui.link.request(daemonRequests.intercept, { ...params, progressToken }, t),
    );
    this.ui.registry.remember(result);
    this.ui.log.info(`intercept ${result.intercept.name}: ${result.intercept.workload} ${result.intercept.servicePort} → localhost:${result.intercept.localPort} (${result.intercept.mode}); environment from pod ${result.podName}`);
    return result;
  }

  async leave(name: string): Promise<void> {
    await this.quick((t) => this.ui.link.request(daemonRequests.leave, { name }, t), `leave ${name}`);
    this.ui.registry.forget(name);
    this.ui.debugSessions.released(name);
    this.ui.log.info(`left intercept ${name}`);
  }

  contexts(token?: CancellationToken): Promise<ContextsResult> {
    const kubeconfig = this.ui.kubeconfig();
    return this.quick((t) => this.ui.link.request(daemonRequests.contexts, kubeconfig ? { kubeconfig } : {}, t), 'contexts', token);
  }

  /** The namespace names (one request, however many there are). */
  async namespaces(token?: CancellationToken): Promise<string[]> {
    return (await this.quick((t) => this.ui.link.request(daemonRequests.namespaces, {}, t), 'namespaces', token)).namespaces;
  }

  /** One namespace's workloads and their ports. */
  list(namespace: string, token?: CancellationToken): Promise<ListResult> {
    return this.quick((t) => this.ui.link.request(daemonRequests.list, { namespace }, t), `list ${namespace}`, token);
  }

  private async quick<R>(run: (token: vscode.CancellationToken) => Promise<R>, what: string, outer?: CancellationToken): Promise<R> {
    const deadline = withDeadline(QUICK_MS, outer);
    try {
      return await run(deadline.token as vscode.CancellationToken);
    } catch (e) {
      if (deadline.expired()) throw deadlineError(what, QUICK_MS);
      throw e;
    } finally {
      deadline.dispose();
    }
  }

  /** A cancellable notification that shows the daemon's progress messages for this request. */
  private withProgress<R>(
    title: string,
    ms: number,
    outer: vscode.CancellationToken | undefined,
    run: (token: vscode.CancellationToken, progressToken: string) => Promise<R>,
  ): Promise<R> {
    const progressToken = `vscode-${++progressTokens}`;
    return Promise.resolve(
      vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, cancel) => {
        const both = new vscode.CancellationTokenSource();
        const subs = [cancel.onCancellationRequested(() => both.cancel()), outer?.onCancellationRequested(() => both.cancel())];
        const deadline = withDeadline(ms, both.token);
        const listening = this.ui.link.onProgress((p) => {
          if (p.token === progressToken) {
            progress.report({ message: p.message });
            this.ui.log.info(p.message);
          }
        });
        try {
          return await run(deadline.token as vscode.CancellationToken, progressToken);
        } catch (e) {
          if (deadline.expired()) throw deadlineError(title, ms);
          throw e;
        } finally {
          listening.dispose();
          deadline.dispose();
          for (const s of subs) s?.dispose();
          both.dispose();
        }
      }),
    );
  }
}

function deadlineError(what: string, ms: number): DeadlineError {
  return new DeadlineError(what.replace(/^Telepath: /, ''), ms);
}
