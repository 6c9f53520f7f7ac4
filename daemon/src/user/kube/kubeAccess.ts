/**
 * The user's cluster access: kubeconfig, context and namespace through @kubernetes/client-node,
 * and the mapping of its failures to the daemon's error codes, so every caller reports "which
 * context, what went wrong, what to do" the same way.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import type { ResponseError } from 'vscode-jsonrpc';
import { daemonError, ErrorCode, type DaemonErrorData } from '../../../../protocol/src/daemon';

export interface KubeAccess {
  kc: KubeConfig;
  kubeconfigPath: string;
  context: string;
  server: string;
  /** The namespace to connect to: the request's, else the context's, else "default". */
  namespace: string;
}

/** The contexts of the kubeconfig that connect would read (`path`, else $KUBECONFIG, else ~/.kube/config). */
export function kubeContexts(kubeconfig?: string): { kubeconfig: string; current?: string; contexts: { name: string; cluster: string; namespace?: string }[] } {
  const file = kubeconfig ?? process.env.KUBECONFIG?.split(path.delimiter)[0] ?? path.join(os.homedir(), '.kube', 'config');
  if (!fs.existsSync(file)) throw daemonError(ErrorCode.KubeconfigInvalid, `kubeconfig ${file} does not exist; set telepath.kubeconfig or KUBECONFIG`);
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw daemonError(ErrorCode.KubeconfigInvalid, `cannot read kubeconfig ${file}: ${(err as Error).message}`);
  }
  const contexts = kc.getContexts().map((c) => {
    const out: { name: string; cluster: string; namespace?: string } = { name: c.name, cluster: kc.getCluster(c.cluster)?.server ?? c.cluster };
    if (c.namespace) out.namespace = c.namespace;
    return out;
  });
  const current = kc.getCurrentContext();
  return { kubeconfig: file, ...(current ? { current } : {}), contexts };
}

export function loadKubeAccess(opts: { kubeconfig?: string; context?: string; namespace?: string }): KubeAccess {
  const kubeconfigPath =
    opts.kubeconfig ?? process.env.KUBECONFIG?.split(path.delimiter)[0] ?? path.join(os.homedir(), '.kube', 'config');
  if (!fs.existsSync(kubeconfigPath)) {
    throw daemonError(ErrorCode.KubeconfigInvalid, `kubeconfig ${kubeconfigPath} does not exist; pass --kubeconfig or set KUBECONFIG`);
  }
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(kubeconfigPath);
  } catch (err) {
    throw daemonError(ErrorCode.KubeconfigInvalid, `cannot read kubeconfig ${kubeconfigPath}: ${(err as Error).message}`);
  }
  const context = opts.context ?? kc.getCurrentContext();
  if (!context || !kc.getContextObject(context)) {
    const known = kc.getContexts().map((c) => c.name);
    throw daemonError(
      ErrorCode.ContextNotFound,
      opts.context
        ? `context "${opts.context}" is not in ${kubeconfigPath} (it has: ${known.join(', ') || 'none'})`
        : `${kubeconfigPath} has no current context; pass --context (one of: ${known.join(', ') || 'none'})`,
    );
  }
  kc.setCurrentContext(context);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw daemonError(ErrorCode.KubeconfigInvalid, `context "${context}" names no cluster in ${kubeconfigPath}`);
  const namespace = opts.namespace ?? kc.getContextObject(context)?.namespace ?? 'default';
  return { kc, kubeconfigPath, context, server: cluster.server, namespace };
}

/**
 * A daemon error for a failed Kubernetes call: 401/403 → Forbidden (what was refused and to whom),
 * no answer → ClusterUnreachable, otherwise the given fallback code with the API server's message.
 */
export function kubeError(
  err: unknown,
  doing: string,
  access: Pick<KubeAccess, 'context' | 'server'>,
  fallback: ErrorCode = ErrorCode.Internal,
): ResponseError<DaemonErrorData> {
  if (err instanceof ApiException) {
    const message = apiMessage(err);
    if (err.code === 401) {
      return daemonError(ErrorCode.Forbidden, `${doing}: the cluster did not accept the credentials of context "${access.context}": ${message}`);
    }
    if (err.code === 403) {
      return daemonError(ErrorCode.Forbidden, `${doing}: forbidden for the user of context "${access.context}": ${message}`);
    }
    return daemonError(fallback, `${doing}: ${message}`);
  }
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code;
  if (code && ['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET'].includes(code)) {
    return daemonError(
      ErrorCode.ClusterUnreachable,
      `${doing}: cannot reach the API server ${access.server} of context "${access.context}" (${code}); check the network or VPN`,
    );
  }
  if (/fetch failed|socket hang up|network/i.test(e.message ?? '')) {
    return daemonError(ErrorCode.ClusterUnreachable, `${doing}: cannot reach the API server ${access.server}: ${e.message}`);
  }
  return daemonError(fallback, `${doing}: ${e.message ?? String(err)}`);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

function apiMessage(err: ApiException<unknown>): string {
  const body = err.body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  return err.message;
}
