/**
 * The environment a Telepath debug session gets: the intercepted container's, then TELEPATH_ROOT
 * (where its volumes are mounted), then the configuration's own `env`, which wins — the user can
 * always override what the pod says. `envFile` is left to the debugger, as the user wrote it.
 */
export const TELEPATH_ROOT = 'TELEPATH_ROOT';

/** `null` in a launch configuration's env unsets a variable (js-debug); it is kept as given. */
export type LaunchEnv = Record<string, string | null>;

export function mergeDebugEnv(podEnv: Readonly<Record<string, string>>, mountPoint: string | undefined, userEnv: unknown): LaunchEnv {
  const merged: LaunchEnv = { ...podEnv };
  if (mountPoint) merged[TELEPATH_ROOT] = mountPoint;
  if (typeof userEnv === 'object' && userEnv !== null && !Array.isArray(userEnv)) {
    for (const [k, v] of Object.entries(userEnv as Record<string, unknown>)) {
      if (v === null) merged[k] = null;
      else if (v !== undefined) merged[k] = String(v);
    }
  }
  return merged;
}
