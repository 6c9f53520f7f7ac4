/** What the manager says of the cluster's networks: what the network role routes and resolves. */
export interface ClusterNetworks {
  serviceSubnets: string[];
  podSubnets: string[];
  dnsIp: string;
  clusterDomain: string;
}
