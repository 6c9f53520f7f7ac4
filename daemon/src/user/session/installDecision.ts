/**
 * What a connecting client does with the traffic-manager it finds: the rule of docs/upgrades.md
 * as a pure function of what is installed, what this client ships and whether the user's
 * credentials may change the install. Upgrades go forward only: a client never replaces a newer
 * manager, so developers with different Telepath versions on one cluster do not re-install it
 * back and forth.
 */
import { ErrorCode } from '../../../../protocol/src/daemon';
import { apiCompatible, compareSemver, formatApiRange, type ApiRange } from '../../../../protocol/src/version.js';

/** One build of the manager: its product version, its bundle and the API levels it serves. */
export interface ManagerBuild {
  version: string;
  bundleHash: string;
  api: ApiRange;
}

/** The manager in the cluster, as its Deployment describes it. */
export interface FoundManager extends ManagerBuild {
  available: boolean;
}

export type InstallAction = 'install' | 'upgrade' | 'reinstall' | 'use';

export type InstallDecision =
  | {
      /** install, upgrade and reinstall apply this client's manager; use changes nothing. */
      action: InstallAction;
      /** One line for the user: what was found and what this client does with it. */
      message: string;
    }
  | { action: 'refuse'; code: ErrorCode; message: string };

/**
 * `mayChange` false: the user's credentials may not apply the manager's objects (a dry run said
 * so), and the decision falls back to using what is there when this client can.
 */
export function decideInstall(found: FoundManager | undefined, self: ManagerBuild, mayChange: boolean, namespace: string): InstallDecision {
  if (!found) {
    if (mayChange) return { action: 'install', message: `No traffic-manager in namespace ${namespace}: installing ${self.version}` };
    return { action: 'refuse', code: ErrorCode.Forbidden, message: `there is no traffic-manager in namespace ${namespace}, and your credentials may not install one` };
  }
  const order = compareSemver(self.version, found.version);
  const was = `traffic-manager ${found.version || '(unknown version)'} found`;
  const thisClient = `(this client ${self.version})`;
  // The same release: a different bundle is a development build, which replaces the other as
  // before; an unavailable one is applied again (a deleted Service, a half-done install).
  if (order === 0) {
    if (found.bundleHash === self.bundleHash && found.available) return { action: 'use', message: `${was}: using it` };
    const why = found.bundleHash === self.bundleHash ? 'not available' : 'another build of this version';
    if (mayChange) return { action: 'reinstall', message: `${was}, ${why}: ${found.bundleHash === self.bundleHash ? 'applying it again' : "installing this client's build"}` };
    return useIfCompatible(found, self, `${was}, ${why}; your credentials may not replace it`);
  }
  // This client is newer, or the manager's version is unknown (an install of no release).
  if (order === undefined || order > 0) {
    if (mayChange) return { action: 'upgrade', message: `${was} ${thisClient}: upgrading it` };
    return useIfCompatible(found, self, `${was} ${thisClient}; your credentials may not upgrade it`);
  }
  // This client is older: never downgrade.
  return useIfCompatible(found, self, `${was} ${thisClient}: newer than this client`);
}

function useIfCompatible(found: FoundManager, self: ManagerBuild, what: string): InstallDecision {
  if (apiCompatible(found.api, self.api)) return { action: 'use', message: `${what}; using it` };
  return incompatible(found, self, `your credentials may not upgrade it: ask a cluster admin to connect once with Telepath ${self.version}, or use Telepath ${found.version}`);
}

/** The refusal for a manager whose API levels do not overlap this client's; `tooOld` says what to do about an old one. */
function incompatible(found: { version: string; api: ApiRange }, self: { version: string; api: ApiRange }, tooOld: string): InstallDecision {
  const levels = `it serves API levels ${formatApiRange(found.api)}, this client speaks ${formatApiRange(self.api)}`;
  if (found.api.min > self.api.level) {
    return {
      action: 'refuse',
      code: ErrorCode.ClientTooOld,
      message: `the traffic-manager is ${found.version}, newer than this client ${self.version}; upgrade Telepath (${levels})`,
    };
  }
  return {
    action: 'refuse',
    code: ErrorCode.ManagerTooOld,
    message: `the traffic-manager is ${found.version || '(unknown version)'}, older than this client ${self.version} works with (${levels}); ${tooOld}`,
  };
}

/**
 * Whether the manager this client reached (as its Version RPC reports it) can serve it: undefined
 * when it can, else the refusal. Asked again on every reconnect, because another client may have
 * replaced the manager meanwhile.
 */
export function managerRefusal(manager: { version: string; api: ApiRange }, self: { version: string; api: ApiRange }): InstallDecision | undefined {
  if (apiCompatible(manager.api, self.api)) return undefined;
  return incompatible(manager, self, 'disconnect and connect again to upgrade it');
}
