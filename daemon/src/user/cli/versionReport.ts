/**
 * What `telepath version` prints: this client, the daemon, the traffic-manager it reached and what
 * connect decided about that manager (docs/upgrades.md), as text or as JSON fields.
 */
import type { VersionResult } from '../../../../protocol/src/daemon';
import { formatApiRange, OWN_API, PRODUCT_VERSION, PROTOCOL_VERSION } from '../../../../protocol/src/version.js';

export interface VersionReport {
  client: string;
  protocol: string;
  apiLevels: string;
  daemon: string | null;
  trafficManager: string | null;
  trafficManagerApiLevels: string | null;
  /** What connect found and did: { found?, action, message }, null when not connected. */
  managerDecision: VersionResult['manager'] | null;
}

/** `daemon` is the daemon's answer, undefined when none runs. */
export function versionReport(daemon: VersionResult | undefined): { json: VersionReport; text: string } {
  const json: VersionReport = {
    client: PRODUCT_VERSION,
    protocol: PROTOCOL_VERSION,
    apiLevels: formatApiRange(OWN_API),
    daemon: daemon?.daemonVersion ?? null,
    trafficManager: daemon?.managerVersion ?? null,
    trafficManagerApiLevels: daemon?.managerApiLevels ?? null,
    managerDecision: daemon?.manager ?? null,
  };
  const lines = [
    `Client:          telepath ${json.client} (protocol ${json.protocol}, API levels ${json.apiLevels})`,
    `Daemon:          ${daemon ? `${daemon.daemonVersion} (protocol ${daemon.protocolVersion})` : 'not running'}`,
    `Traffic manager: ${json.trafficManager ? `${json.trafficManager}${json.trafficManagerApiLevels ? ` (API levels ${json.trafficManagerApiLevels})` : ''}` : 'not connected'}`,
  ];
  if (json.managerDecision) lines.push(`On connect:      ${json.managerDecision.message}`);
  return { json, text: lines.join('\n') + '\n' };
}
