/** The extension's settings (package.json `contributes.configuration`), as plain data. */
import path from 'node:path';
import os from 'node:os';

export interface TelepathSettings {
  /** telepath.kubeconfig: a path; empty for $KUBECONFIG or ~/.kube/config. */
  kubeconfig: string;
  /** telepath.context: the context to connect to; empty for the kubeconfig's current one. */
  context: string;
  /** telepath.namespace: the namespace to connect to; empty for the context's. */
  namespace: string;
  defaultInterceptMode: 'personal' | 'global';
  /** "NAME", "NAME=VALUE", or empty (see headerFromSetting). */
  defaultHeader: string;
  leaveOnDebugEnd: boolean;
}

export const DEFAULT_SETTINGS: TelepathSettings = {
  kubeconfig: '',
  context: '',
  namespace: '',
  defaultInterceptMode: 'personal',
  defaultHeader: 'x-telepath-intercept',
  leaveOnDebugEnd: true,
};

/**
 * The kubeconfig to pass to the daemon: the setting (with ~ and ${workspaceFolder}), else the
 * first file of KUBECONFIG as kubectl would read it, else undefined for the daemon's default.
 * Passed explicitly because a daemon started elsewhere has another environment.
 */
export function resolveKubeconfig(setting: string, env: NodeJS.ProcessEnv, workspaceFolder?: string, home = os.homedir()): string | undefined {
  let p = setting.trim();
  if (p) {
    if (p === '~' || p.startsWith('~/')) p = path.join(home, p.slice(1));
    if (workspaceFolder) p = p.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
    return path.resolve(workspaceFolder ?? home, p);
  }
  const first = env.KUBECONFIG?.split(path.delimiter).find((x) => x.trim() !== '');
  return first ? path.resolve(first) : undefined;
}
