/**
 * The workstation's "original" resolver for tldNamespace.test.ts: runs in the workstation
 * namespace on 127.0.0.1:53 (the nameserver its resolv.conf names) and answers as the public DNS
 * would for a few names — `dev` is a top-level domain (a zone with an SOA of its own), `pkg.go.dev`
 * has an address in TEST-NET-1 (192.0.2.88: never contacted) — and NXDOMAIN for anything else.
 * Nothing here leaves the machine. Prints `listening`, then `query NAME TYPE` for every query.
 */
import { FakeNameserver } from '../../../daemon/src/network/dns/testing/fakeNameserver.js';

const soa = { mname: 'ns.dev', rname: 'hostmaster.dev', serial: 1, refresh: 7200, retry: 3600, expire: 86400, minimum: 60 };
async function main(): Promise<void> {
  const server = await FakeNameserver.start({
    host: '127.0.0.1',
    port: 53,
    records: {
      dev: [{ name: 'dev', type: 'SOA', ttl: 300, data: soa }],
      'pkg.go.dev': [{ name: 'pkg.go.dev', type: 'A', ttl: 300, data: '192.0.2.88' }],
    },
    onQuery: (q) => process.stdout.write(`query ${q.name} ${q.type}\n`),
  });
  process.stdout.write('listening\n');
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
