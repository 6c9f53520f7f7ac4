/**
 * What the extension-host tests share: the extension under test and its test API, waiting for a
 * state, the daemon's processes, the Telepath log, and requests from the cluster's client pod.
 * The tests run in the workstation namespace with the extension (test/e2e/extensionHost.test.ts
 * starts code-server there), so `kubectl` on PATH and KUBECONFIG reach the local cluster.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { promisify } from 'node:util';
import * as vscode from 'vscode';
import type { TelepathTestApi } from '../../extension/src/testApi.js';
import type { ClusterNode } from '../../extension/src/tree/clusterNode.js';

import { until } from '../cluster/until.js';

export { until };

export const EXTENSION_ID = 'telepath.telepath';
/** The header value this suite's personal intercepts match (telepath.defaultHeader, set by the driver). */
export const HEADER = { name: 'x-telepath-intercept', value: 'exthost' };

const run = promisify(execFile);

export function extension(): vscode.Extension<TelepathTestApi> {
  const ext = vscode.extensions.getExtension<TelepathTestApi>(EXTENSION_ID);
  if (!ext) throw new Error(`${EXTENSION_ID} is not loaded: is it the extensionDevelopmentPath, and does its engines.vscode fit this VS Code?`);
  return ext;
}

/** The test API (activating the extension if a test runs on its own). */
export async function telepath(): Promise<TelepathTestApi> {
  return extension().activate();
}

/** The processes of daemons started from this extension's own bundle (not from elsewhere on the machine). */
export function daemonPids(): number[] {
  const bundle = `${extension().extensionPath}/dist/telepathd.js`;
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv.includes(bundle) && argv.includes('daemon-foreground')) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** A process's executable and environment, as the kernel reports them. */
export function processFacts(pid: number): { exe: string; env: Record<string, string> } {
  const env: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return { exe: realpathSync(readlinkSync(`/proc/${pid}/exe`)), env };
}

export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** The "Telepath" output channel's text (what the user reads in Output > Telepath). */
export function telepathLog(api: TelepathTestApi): string {
  try {
    return readFileSync(api.logFile.fsPath, 'utf8');
  } catch {
    return '';
  }
}

/** The last lines of the Telepath log, for failure messages. */
export function logTail(api: TelepathTestApi, lines = 15): string {
  return `the Telepath log ends with:\n${telepathLog(api).trimEnd().split('\n').slice(-lines).join('\n')}`;
}

/** The contextValue of the view's "Loading…" nodes (LOADING_CONTEXT_VALUE of extension/src/tree/treeModel.ts). */
const LOADING = 'telepathLoading';

/**
 * The children of a node of the Clusters view (the roots without one), as the view asks for them,
 * once loaded: the view answers at once, with "Loading…" until the daemon's answer is there.
 */
export async function children(api: TelepathTestApi, node?: ClusterNode): Promise<ClusterNode[]> {
  let kids: ClusterNode[] = [];
  await until(`the children of ${node?.id ?? 'the root'} to load`, 60_000, async () => {
    kids = (await api.tree.getChildren(node)) ?? [];
    return !kids.some((n) => n.contextValue === LOADING);
  }, () => kids.map((n) => n.label).join(', '));
  return kids;
}

/** Walks the Clusters view by labels: context, namespace, workload, port. */
export async function treePath(api: TelepathTestApi, ...labels: string[]): Promise<ClusterNode> {
  let node: ClusterNode | undefined;
  for (const label of labels) {
    const kids = await children(api, node);
    const next = kids.find((n) => n.label === label);
    if (!next) throw new Error(`no "${label}" under ${node?.id ?? 'the root'}; there are: ${kids.map((n) => n.label).join(', ')}`);
    node = next;
  }
  return node!;
}

/** An HTTP GET from the client pod in namespace samples; what it printed (an echo pod answers with JSON). */
export async function fromClientPod(url: string, header?: { name: string; value: string }): Promise<string> {
  const args = ['exec', '-n', 'samples', 'client', '--', 'node', '/app/samples.js', 'http-get', url];
  if (header) args.push('--header', `${header.name}=${header.value}`);
  return (await run('kubectl', args, { timeout: 60_000 })).stdout;
}
