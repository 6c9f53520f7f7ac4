/**
 * The destination policy (destinationPolicy.ts) applied to the manager's live state: the cluster's
 * subnets as discovered now, the DNS answers each session got, the admin's TELEPATH_TUNNEL_ALLOW
 * and the pod's own addresses.
 */
import type os from 'node:os';
import type { SubnetBytes } from '../../../protocol/src/ipAddress.js';
import { type ClusterNetworks, subnetsOf } from '../clusterInfo.js';
import type { ClusterInfoSource } from '../clusterInfoSource.js';
import type { DnsAnswerMemory } from './dnsAnswerMemory.js';
import { canonicalIp, type DestinationVerdict, judgeDestination, parseAllowedCidr } from './destinationPolicy.js';

export interface DestinationGuardOptions {
  clusterInfo: ClusterInfoSource;
  dnsAnswers: Pick<DnsAnswerMemory, 'has'>;
  /** CIDRs or addresses, as readConfig validated them. */
  tunnelAllow: readonly string[];
  /** The manager pod's own addresses (interfaceAddresses, POD_IPS). */
  managerIps: readonly string[];
}

export class DestinationGuard {
  private readonly tunnelAllow: SubnetBytes[];
  private readonly managerIps: ReadonlySet<string>;
  private networks: ClusterNetworks | undefined;
  private subnets = { service: [] as SubnetBytes[], pod: [] as SubnetBytes[] };

  constructor(private readonly options: DestinationGuardOptions) {
    this.tunnelAllow = options.tunnelAllow.map(parseAllowedCidr);
    this.managerIps = new Set(options.managerIps.map(canonicalIp));
  }

  judge(sessionId: string, ip: Uint8Array, port: number): DestinationVerdict {
    const { service, pod } = this.clusterSubnets();
    return judgeDestination(
      { ip, port },
      {
        serviceSubnets: service,
        podSubnets: pod,
        answeredByDns: (text) => this.options.dnsAnswers.has(sessionId, text),
        tunnelAllow: this.tunnelAllow,
        managerIps: this.managerIps,
      },
    );
  }

  /** Parsed once per snapshot of the cluster's networks. */
  private clusterSubnets(): { service: SubnetBytes[]; pod: SubnetBytes[] } {
    const current = this.options.clusterInfo.current();
    if (current !== this.networks) {
      this.networks = current;
      this.subnets = { service: subnetsOf(current?.serviceCidrs ?? []), pod: subnetsOf(current?.podCidrs ?? []) };
    }
    return this.subnets;
  }
}

/** The non-internal addresses of os.networkInterfaces(): the pod's own, whatever the Deployment says. */
export function interfaceAddresses(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]>): string[] {
  return Object.values(interfaces).flatMap((list) => (list ?? []).filter((i) => !i.internal).map((i) => i.address));
}
