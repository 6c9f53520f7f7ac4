/**
 * The daemon's DNS, end to end on a real Linux resolver stack, without the cluster: a network
 * namespace of its own (`tp-dnstest-<pid>`) whose /etc/resolv.conf is /etc/netns/<ns>/resolv.conf
 * (bind-mounted by `ip netns exec`, so the rewrite must happen in place). Inside it, a child
 * process (this same file, with TP_DNSTEST_CHILD set) runs
 *   - the "original resolver": a small DNS server on 127.0.0.2:53 that knows `example.test`,
 *   - Telepath's DNS server on 127.0.0.1:53, whose cluster lookups come from a static table that
 *     stands in for the traffic-manager (answers shaped like CoreDNS's),
 *   - the resolv.conf rewrite, restored when told to (or undone from the journal after a kill).
 * Then real clients in the namespace — glibc (`getent`), Node (`dns.lookup` = getaddrinfo,
 * `dns.resolve*` = c-ares), `dig` and `host` — must see what a user would.
 * Needs root and `ip`; `dig`/`host` come from Debian's bind9-dnsutils.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

const CHILD_MODE = process.env.TP_DNSTEST_CHILD;
const thisFile = path.resolve(import.meta.dirname, 'dnsResolver.test.ts');
const repoRoot = path.resolve(import.meta.dirname, '../..');

// ---------------------------------------------------------------------------------------------
// The child: runs inside the namespace.
// ---------------------------------------------------------------------------------------------

async function runChild(mode: string): Promise<void> {
  const { default: dnsPacket } = await import('dns-packet');
  const { ipToBytes } = await import('../../protocol/src/ipAddress.js');
  const { DnsServer } = await import('../../daemon/src/network/dns/dnsServer.js');
  const { Forwarder } = await import('../../daemon/src/network/dns/forwarder.js');
  const { createResolverConfigurator, recoverResolverConfig } = await import('../../daemon/src/network/dns/resolverConfig.js');
  const { FakeNameserver } = await import('../../daemon/src/network/dns/testing/fakeNameserver.js');
  type DNSRecord = import('../../protocol/src/gen/telepath/manager/v1/manager.js').DNSRecord;

  const emit = (event: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(event) + '\n');
  const logLine = (level: string) => (message: string, fields?: Record<string, unknown>) => process.stderr.write(`[dns ${level}] ${message} ${fields ? JSON.stringify(fields) : ''}\n`);
  const logger = { debug: () => {}, info: logLine('info'), warn: logLine('warn') };
  const journalPath = process.env.TP_DNSTEST_JOURNAL!;

  if (mode === 'recover') {
    emit({ event: 'recovered', result: await recoverResolverConfig({ journalPath, logger }) });
    return;
  }

  // The original resolver of the "workstation".
  const original = await FakeNameserver.start({
    host: '127.0.0.2',
    port: 53,
    records: {
      'example.test': [{ name: 'example.test', type: 'A', ttl: 60, data: '192.0.2.10' }],
      'host1.example.test': [{ name: 'host1.example.test', type: 'A', ttl: 60, data: '192.0.2.11' }],
      lanhost: [{ name: 'lanhost', type: 'A', ttl: 60, data: '192.0.2.20' }],
    },
  });

  // The cluster, as CoreDNS answers through the manager's LookupDNS.
  const ttl = 30;
  const A = (name: string, ip: string): DNSRecord => ({ name, type: 1, ttl, data: { $case: 'ip', value: ipToBytes(ip) } });
  const CNAME = (name: string, target: string): DNSRecord => ({ name, type: 5, ttl, data: { $case: 'target', value: target } });
  const echo = 'echo.samples.svc.cluster.local';
  const cluster: Record<string, DNSRecord[]> = {
    [echo]: [A(echo, '10.96.0.20')],
    'web.samples.svc.cluster.local': [A('web.samples.svc.cluster.local', '10.244.0.11'), A('web.samples.svc.cluster.local', '10.244.0.12')],
    'web-0.web.samples.svc.cluster.local': [A('web-0.web.samples.svc.cluster.local', '10.244.0.11')],
    '_http._tcp.echo.samples.svc.cluster.local': [
      { name: '_http._tcp.echo.samples.svc.cluster.local', type: 33, ttl, data: { $case: 'srv', value: { priority: 0, weight: 100, port: 8080, target: echo } } },
    ],
    'external.samples.svc.cluster.local': [CNAME('external.samples.svc.cluster.local', echo), A(echo, '10.96.0.20')],
    'outside.samples.svc.cluster.local': [CNAME('outside.samples.svc.cluster.local', 'example.test')],
  };
  const lookupCluster = async (name: string, qtype: number) => {
    const records = cluster[name];
    if (!records) return { rcode: 3, answers: [] };
    return { rcode: 0, answers: records.filter((r) => r.type === qtype || r.type === 5) };
  };

  const resolver = createResolverConfigurator({ journalPath, logger, mode: 'resolv.conf' });
  const applied = await resolver.apply({ dnsIp: '127.0.0.1', clusterDomain: 'cluster.local', connectedNamespace: 'samples', namespaces: ['samples', 'default'] });
  const forwarder = new Forwarder({ nameservers: applied.upstream, logger });
  const server = await DnsServer.start({
    host: '127.0.0.1',
    port: 53,
    routing: { clusterDomain: 'cluster.local', connectedNamespace: 'samples', namespaces: ['samples', 'default'] },
    lookupCluster,
    forward: (q, signal) => forwarder.forward(q, signal),
    logger,
  });
  emit({ event: 'ready', upstream: applied.upstream });

  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() !== 'restore') continue;
    await server.close();
    await resolver.restore();
    await original.close();
    emit({ event: 'restored' });
    break;
  }
  void dnsPacket; // loaded first so that a missing dependency fails before anything changes
}

// ---------------------------------------------------------------------------------------------
// The test: runs on the host.
// ---------------------------------------------------------------------------------------------

const ORIGINAL_RESOLV_CONF = Buffer.from(
  '# the test workstation\'s own resolver\tsettings\nnameserver 127.0.0.2\nsearch example.test\noptions timeout:2 attempts:2 rotate',
);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function defineTests(): void {
  const isRoot = process.getuid?.() === 0;
  const hasIp = spawnSync('ip', ['-V']).status === 0;
  const ns = `tp-dnstest-${process.pid}`;
  const netnsEtc = '/etc/netns';
  const etcDir = path.join(netnsEtc, ns);
  const resolvConf = path.join(etcDir, 'resolv.conf');
  const hadNetnsEtc = existsSync(netnsEtc);
  const stateDir = mkdtempSync(path.join(tmpdir(), 'tp-dnstest-'));
  const journal = path.join(stateDir, 'resolver.json');
  let child: ChildProcess | undefined;
  let inode = 0;

  /** Runs a program inside the namespace, as any user process there would. */
  const inNs = (args: string[], timeoutMs = 15_000): Run => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', timeout: timeoutMs, cwd: repoRoot });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  };
  const hasTool = (tool: string): boolean => inNs(['sh', '-c', `command -v ${tool}`]).code === 0;

  /** Starts the child in `mode` and resolves with its first event. */
  const startChild = (mode: string): Promise<{ proc: ChildProcess; event: Record<string, unknown> }> => {
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', thisFile], {
      cwd: repoRoot,
      env: { ...process.env, TP_DNSTEST_CHILD: mode, TP_DNSTEST_JOURNAL: journal },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child (${mode}) did not report within 30 s\n${stderr}`)), 30_000);
      createInterface({ input: proc.stdout! }).once('line', (line) => {
        clearTimeout(timer);
        resolve({ proc, event: JSON.parse(line) as Record<string, unknown> });
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`child (${mode}) exited ${code} before reporting\n${stderr}`));
      });
    });
  };

  const cleanUp = (): void => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(etcDir, { recursive: true, force: true });
    if (!hadNetnsEtc && existsSync(netnsEtc) && readdirSync(netnsEtc).length === 0) rmdirSync(netnsEtc);
    rmSync(stateDir, { recursive: true, force: true });
  };

  const skip = !isRoot ? 'needs root' : !hasIp ? 'needs iproute2' : false;

  describe('DNS in a workstation namespace', { skip }, () => {
    before(async () => {
      try {
        await setUp();
      } catch (e) {
        cleanUp();
        throw e;
      }
    });
    after(cleanUp);

    const setUp = async (): Promise<void> => {
      const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
      assert.equal(add.status, 0, add.stderr);
      assert.equal(spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']).status, 0);
      // A non-loopback address, as every workstation has: getaddrinfo with AI_ADDRCONFIG (getent
      // ahosts, many programs) returns nothing at all in a namespace that has only loopback.
      for (const args of [
        ['link', 'add', 'tpd0', 'type', 'veth', 'peer', 'name', 'tpd1'],
        ['addr', 'add', '198.51.100.2/24', 'dev', 'tpd0'],
        ['link', 'set', 'tpd0', 'up'],
        ['link', 'set', 'tpd1', 'up'],
      ]) {
        const r = spawnSync('ip', ['-n', ns, ...args], { encoding: 'utf8' });
        assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
      }
      mkdirSync(etcDir, { recursive: true });
      writeFileSync(resolvConf, ORIGINAL_RESOLV_CONF);
      inode = statSync(resolvConf).ino;
      const started = await startChild('apply');
      child = started.proc;
      assert.equal(started.event.event, 'ready');
      assert.deepEqual(started.event.upstream, [{ address: '127.0.0.2', port: 53 }]);
    };

    test('resolv.conf is rewritten in place: our server first, the cluster search list, the original kept behind', () => {
      const text = readFileSync(resolvConf, 'utf8');
      assert.equal(statSync(resolvConf).ino, inode);
      assert.match(text, /^nameserver 127\.0\.0\.1\nnameserver 127\.0\.0\.2\n/m);
      assert.match(text, /^search samples\.svc\.cluster\.local svc\.cluster\.local cluster\.local example\.test$/m);
      assert.match(text, /^options timeout:2 attempts:2$/m);
      // and the namespace's processes see that file
      assert.equal(inNs(['cat', '/etc/resolv.conf']).stdout, text);
    });

    test('glibc (getent): svc.ns, short names, headless pods, ExternalName, and the original resolver', () => {
      const hosts = (name: string): string => {
        const r = inNs(['getent', 'hosts', name]);
        assert.equal(r.code, 0, `getent hosts ${name}: exit ${r.code} ${r.stderr}`);
        return r.stdout.trim();
      };
      assert.match(hosts('echo.samples'), /^10\.96\.0\.20\s+echo\.samples$/);
      assert.match(hosts('echo'), /^10\.96\.0\.20\s+echo\.samples\.svc\.cluster\.local$/);
      assert.match(hosts('echo.samples.svc.cluster.local'), /^10\.96\.0\.20\s/);
      assert.match(hosts('web-0.web.samples'), /^10\.244\.0\.11\s+web-0\.web\.samples$/);
      assert.match(hosts('external.samples'), /^10\.96\.0\.20\s+echo\.samples\.svc\.cluster\.local\s+external\.samples$/);
      assert.match(hosts('outside.samples'), /^192\.0\.2\.10\s+example\.test\s+outside\.samples$/);
      assert.match(hosts('example.test'), /^192\.0\.2\.10\s+example\.test$/);
      assert.match(hosts('host1'), /^192\.0\.2\.11\s+host1\.example\.test$/, 'the original search list still applies');
      assert.match(hosts('lanhost'), /^192\.0\.2\.20\s+lanhost$/, 'a short name the cluster does not know reaches the original resolver');
      const all = inNs(['getent', 'ahostsv4', 'web.samples']).stdout;
      assert.ok(all.includes('10.244.0.11') && all.includes('10.244.0.12'), all);
    });

    test('glibc: a missing cluster name fails at once (NXDOMAIN, no timeout)', () => {
      inNs(['getent', 'hosts', 'nope.samples']); // warm the process cache of `ip netns exec`
      const r = inNs(['getent', 'hosts', 'nope.samples']);
      assert.equal(r.code, 2, `getent exit ${r.code}: ${r.stdout}${r.stderr}`);
      // the whole search walk, A and AAAA, plus starting two processes
      assert.ok(r.ms < 1000, `took ${r.ms.toFixed(0)} ms`);
    });

    test('Node: dns.lookup (getaddrinfo) and dns.resolve* (c-ares) agree with the cluster', () => {
      const script = `
        const dns = require('node:dns').promises;
        const t = async (f) => { try { return await f(); } catch (e) { return { error: e.code }; } };
        (async () => {
          const out = {};
          out.lookupShort = await t(() => dns.lookup('echo', { family: 4 }));
          out.lookupSvcNs = await t(() => dns.lookup('echo.samples', { family: 4 }));
          out.lookupExample = await t(() => dns.lookup('example.test', { family: 4 }));
          out.resolve4 = await t(() => dns.resolve4('echo.samples', { ttl: true }));
          out.resolve4Short = await t(() => dns.resolve4('echo'));
          out.srv = await t(() => dns.resolveSrv('_http._tcp.echo.samples.svc.cluster.local'));
          out.cname = await t(() => dns.resolveCname('external.samples'));
          out.aaaa = await t(() => dns.resolve6('echo.samples'));
          const t0 = Date.now();
          out.missing = await t(() => dns.resolve4('nope.samples'));
          out.missingMs = Date.now() - t0;
          process.stdout.write(JSON.stringify(out));
        })();`;
      const r = inNs([process.execPath, '-e', script]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.deepEqual(out.lookupShort, { address: '10.96.0.20', family: 4 });
      assert.deepEqual(out.lookupSvcNs, { address: '10.96.0.20', family: 4 });
      assert.deepEqual(out.lookupExample, { address: '192.0.2.10', family: 4 });
      assert.deepEqual(out.resolve4, [{ address: '10.96.0.20', ttl: 5 }], 'TTL capped at 5 s');
      assert.deepEqual(out.resolve4Short, ['10.96.0.20']);
      assert.deepEqual(out.srv, [{ name: 'echo.samples.svc.cluster.local', port: 8080, priority: 0, weight: 100 }]);
      assert.deepEqual(out.cname, ['echo.samples.svc.cluster.local']);
      assert.deepEqual(out.aaaa, { error: 'ENODATA' }, 'the name exists, without IPv6');
      assert.deepEqual(out.missing, { error: 'ENOTFOUND' });
      assert.ok((out.missingMs as number) < 500, `c-ares took ${String(out.missingMs)} ms for a missing name`);
    });

    test('dig and host: owner names, SRV, CNAME, NXDOMAIN timing, TCP', (t) => {
      if (!hasTool('dig') || !hasTool('host')) {
        t.skip('dig/host not installed (Debian package bind9-dnsutils)');
        return;
      }
      const dig = (...args: string[]): string => {
        const r = inNs(['dig', '+tries=1', '+time=3', ...args]);
        assert.equal(r.code, 0, `dig ${args.join(' ')}: ${r.stdout}${r.stderr}`);
        return r.stdout;
      };
      // a bare label sent as is: the answer is owned by the name that was asked
      const bare = dig('echo', 'A');
      assert.match(bare, /status: NOERROR/);
      assert.match(bare, /^echo\.\s+5\s+IN\s+A\s+10\.96\.0\.20$/m);
      assert.match(dig('echo.samples', 'A'), /^echo\.samples\.\s+5\s+IN\s+A\s+10\.96\.0\.20$/m);
      assert.equal(dig('+short', 'SRV', '_http._tcp.echo.samples.svc.cluster.local').trim(), '0 100 8080 echo.samples.svc.cluster.local.');
      assert.equal(dig('+short', 'SRV', '_http._tcp.echo.samples').trim(), '0 100 8080 echo.samples.svc.cluster.local.');
      const ext = dig('external.samples', 'A');
      assert.match(ext, /^external\.samples\.\s+5\s+IN\s+CNAME\s+echo\.samples\.svc\.cluster\.local\.$/m);
      assert.match(ext, /^echo\.samples\.svc\.cluster\.local\.\s+5\s+IN\s+A\s+10\.96\.0\.20$/m);
      const nx = dig('nope.samples', 'A');
      assert.match(nx, /status: NXDOMAIN/);
      assert.match(nx, /AUTHORITY: 1/, 'an SOA for negative caching');
      const ms = Number(/Query time: (\d+) msec/.exec(nx)?.[1]);
      assert.ok(ms < 100, `NXDOMAIN took ${ms} ms`);
      assert.match(dig('+tcp', 'web-0.web.samples', 'A'), /^web-0\.web\.samples\.\s+5\s+IN\s+A\s+10\.244\.0\.11$/m);
      assert.match(dig('example.test', 'A'), /^example\.test\.\s+60\s+IN\s+A\s+192\.0\.2\.10$/m);
      const h = inNs(['host', 'echo.samples']);
      assert.equal(h.code, 0, h.stderr);
      assert.match(h.stdout, /echo\.samples has address 10\.96\.0\.20/);
      const hnx = inNs(['host', '-W', '3', 'nope.samples.svc.cluster.local']);
      assert.notEqual(hnx.code, 0);
      assert.match(hnx.stdout, /NXDOMAIN|not found/);
    });

    test('restore puts the original bytes back into the same file', async () => {
      const c = child!;
      const restored = new Promise<string>((resolve) => createInterface({ input: c.stdout! }).once('line', resolve));
      c.stdin!.write('restore\n');
      assert.deepEqual(JSON.parse(await restored), { event: 'restored' });
      assert.deepEqual(readFileSync(resolvConf), ORIGINAL_RESOLV_CONF);
      assert.equal(statSync(resolvConf).ino, inode);
      assert.ok(!existsSync(journal), 'journal removed');
      await new Promise<void>((resolve) => (c.exitCode !== null ? resolve() : c.once('exit', () => resolve())));
      // and the namespace resolves as before: no Telepath server any more
      assert.notEqual(inNs(['getent', 'hosts', 'echo.samples']).code, 0);
      assert.match(inNs(['getent', 'hosts', 'example.test']).stdout, /^$/, 'the original resolver was the child; it is gone too');
    });

    test('after a crash (SIGKILL) the next start undoes the rewrite from the journal, byte for byte', async () => {
      const crashed = await startChild('apply');
      child = crashed.proc;
      assert.notDeepEqual(readFileSync(resolvConf), ORIGINAL_RESOLV_CONF);
      assert.ok(existsSync(journal));
      const exited = new Promise<void>((resolve) => crashed.proc.once('exit', () => resolve()));
      crashed.proc.kill('SIGKILL');
      await exited;
      assert.notDeepEqual(readFileSync(resolvConf), ORIGINAL_RESOLV_CONF, 'a killed daemon cannot clean up');
      const recovery = await startChild('recover');
      assert.deepEqual(recovery.event, { event: 'recovered', result: 'restored' });
      assert.deepEqual(readFileSync(resolvConf), ORIGINAL_RESOLV_CONF);
      assert.equal(statSync(resolvConf).ino, inode);
      assert.ok(!existsSync(journal));
    });
  });
}

if (CHILD_MODE) {
  runChild(CHILD_MODE).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
} else {
  defineTests();
}
