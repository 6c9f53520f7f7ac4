/** The zone the DNS tests serve: shaped like the local cluster's sample Services. */
import type { Answer } from 'dns-packet';

export const ECHO = 'echo.samples.svc.cluster.local';
export const ECHO_IP = '10.96.12.34';

export const SAMPLE_ZONE: Answer[] = [
  { type: 'A', name: ECHO, ttl: 5, data: ECHO_IP },
  { type: 'CNAME', name: 'external.samples.svc.cluster.local', ttl: 5, data: ECHO },
  { type: 'SRV', name: `_http._tcp.${ECHO}`, ttl: 5, data: { priority: 0, weight: 100, port: 8080, target: ECHO } },
  { type: 'TXT', name: 'txt.samples.svc.cluster.local', ttl: 5, data: ['hello', 'world'] },
  // An answer too big for one 1232-byte UDP message: the resolver must retry over TCP.
  ...Array.from({ length: 120 }, (_, i): Answer => ({ type: 'A', name: 'big.samples.svc.cluster.local', ttl: 5, data: `10.244.${i >> 8}.${i & 255}` })),
  { type: 'UNKNOWN_65280', name: 'odd.samples.svc.cluster.local', ttl: 5, data: Buffer.from([1, 2, 3]) } as unknown as Answer,
];
