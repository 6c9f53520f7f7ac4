import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, promises as fs, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { silentDnsLogger } from './dnsLogger.js';
import { TELEPATH_MARKER, parseResolvConf } from './resolvConf.js';
import { createResolverConfigurator, recoverResolverConfig, type CommandRunner, type ResolverConfigOptions } from './resolverConfig.js';
import { LinuxResolverConfig, recoverLinuxResolver, resolvedDomains, usesSystemdResolved } from './resolverConfig.linux.js';

// Odd on purpose: CRLF, a non-UTF-8 byte, no final newline. Restore must give back these bytes.
const ORIGINAL = Buffer.concat([
  Buffer.from('# managed by hand \xff\r\nnameserver 192.0.2.53\r\nsearch home.example\noptions ndots:2 rotate\nnameserver 192.0.2.54', 'latin1'),
]);

const settings = { dnsIp: '127.0.0.1', clusterDomain: 'cluster.local', connectedNamespace: 'samples', namespaces: ['samples', 'default'] };

let dir: string;
let resolvConf: string;
let journal: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tp-resolver-'));
  resolvConf = path.join(dir, 'resolv.conf');
  journal = path.join(dir, 'state', 'resolver.json');
  writeFileSync(resolvConf, ORIGINAL);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function options(extra: Partial<ResolverConfigOptions> = {}): ResolverConfigOptions {
  return { journalPath: journal, logger: silentDnsLogger, resolvConfPath: resolvConf, resolvedDir: path.join(dir, 'no-resolved'), ...extra };
}

test('resolv.conf: rewritten in place, journaled first, restored byte for byte', async () => {
  const inode = statSync(resolvConf).ino;
  const rc = new LinuxResolverConfig(options());
  const applied = await rc.apply(settings);
  assert.equal(applied.mode, 'resolv.conf');
  assert.deepEqual(applied.upstream, [
    { address: '192.0.2.53', port: 53 },
    { address: '192.0.2.54', port: 53 },
  ]);
  const now = readFileSync(resolvConf, 'utf8');
  assert.ok(now.startsWith(TELEPATH_MARKER));
  const conf = parseResolvConf(now);
  assert.deepEqual(conf.nameservers, ['127.0.0.1', '192.0.2.53', '192.0.2.54']);
  assert.deepEqual(conf.search, ['samples.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'home.example']);
  assert.deepEqual(conf.options, ['ndots:2']);
  assert.equal(statSync(resolvConf).ino, inode, 'same inode: written in place');
  const j = JSON.parse(readFileSync(journal, 'utf8')) as { kind: string; original: string };
  assert.equal(j.kind, 'resolv.conf');
  assert.deepEqual(Buffer.from(j.original, 'base64'), ORIGINAL);

  await rc.restore();
  assert.deepEqual(readFileSync(resolvConf), ORIGINAL);
  assert.equal(statSync(resolvConf).ino, inode);
  assert.ok(!existsSync(journal), 'journal removed');
  await rc.restore(); // twice is harmless
  assert.deepEqual(readFileSync(resolvConf), ORIGINAL);
});

test('update() changes the search list while connected, and restore is still exact', async () => {
  const rc = new LinuxResolverConfig(options());
  await rc.apply(settings);
  await rc.update({ ...settings, connectedNamespace: 'other' });
  assert.equal(parseResolvConf(readFileSync(resolvConf, 'utf8')).search[0], 'other.svc.cluster.local');
  await rc.restore();
  assert.deepEqual(readFileSync(resolvConf), ORIGINAL);
});

test('a crashed run is undone from the journal on the next start', async () => {
  await new LinuxResolverConfig(options()).apply(settings); // and then the process "dies"
  assert.notDeepEqual(readFileSync(resolvConf), ORIGINAL);
  assert.equal(await recoverResolverConfig(options(), 'linux'), 'restored');
  assert.deepEqual(readFileSync(resolvConf), ORIGINAL);
  assert.ok(!existsSync(journal));
  assert.equal(await recoverResolverConfig(options(), 'linux'), 'nothing');
});

test('a crash after the journal but before the rewrite leaves the file alone', async () => {
  await new LinuxResolverConfig(options()).apply(settings);
  writeFileSync(resolvConf, ORIGINAL); // as if the rewrite never happened
  const before = statSync(resolvConf).mtimeMs;
  assert.equal(await recoverLinuxResolver(options()), 'restored');
  assert.deepEqual(readFileSync(resolvConf), ORIGINAL);
  assert.equal(statSync(resolvConf).mtimeMs, before);
});

test('a half-written rewrite (crash mid-write) is recognised by its marker and undone', async () => {
  await new LinuxResolverConfig(options()).apply(settings);
  const partial = readFileSync(resolvConf).subarray(0, 80);
  writeFileSync(resolvConf, partial);
  assert.equal(await recoverLinuxResolver(options()), 'restored');
  assert.deepEqual(readFileSync(resolvConf), ORIGINAL);
});

test('apply() after a crash records the real original, not the previous run\'s rewrite', async () => {
  await new LinuxResolverConfig(options()).apply(settings); // crashed run
  const rc = new LinuxResolverConfig(options());
  await rc.apply({ ...settings, connectedNamespace: 'default' });
  const conf = parseResolvConf(readFileSync(resolvConf, 'utf8'));
  assert.deepEqual(conf.nameservers, ['127.0.0.1', '192.0.2.53', '192.0.2.54']);
  assert.equal(conf.search.filter((s) => s === 'svc.cluster.local').length, 1);
  await rc.restore();
  assert.deepEqual(readFileSync(resolvConf), ORIGINAL);
});

test('a resolv.conf that another program replaced meanwhile is kept', async () => {
  await new LinuxResolverConfig(options()).apply(settings);
  const theirs = Buffer.from('nameserver 198.51.100.1\n');
  writeFileSync(resolvConf, theirs);
  assert.equal(await recoverLinuxResolver(options()), 'left-alone');
  assert.deepEqual(readFileSync(resolvConf), theirs);
  assert.ok(!existsSync(journal));
});

test('an unreadable journal is set aside instead of blocking every start', async () => {
  await fs.mkdir(path.dirname(journal), { recursive: true });
  writeFileSync(journal, '{ not json');
  assert.equal(await recoverLinuxResolver(options()), 'nothing');
  assert.ok(existsSync(`${journal}.bad`));
  assert.ok(!existsSync(journal));
});

/** A fake `resolvectl` that records its calls. */
function fakeResolvectl(fail: string[] = []): { run: CommandRunner; calls: string[] } {
  const calls: string[] = [];
  const run: CommandRunner = async (cmd, args) => {
    const line = [cmd, ...args].join(' ');
    calls.push(line);
    return fail.some((f) => line.startsWith(f)) ? { code: 1, stdout: '', stderr: 'Failed' } : { code: 0, stdout: '', stderr: '' };
  };
  return { run, calls };
}

async function resolvedLayout(): Promise<string> {
  const resolvedDir = path.join(dir, 'resolve');
  await fs.mkdir(resolvedDir);
  writeFileSync(path.join(resolvedDir, 'resolv.conf'), 'nameserver 192.0.2.1\nnameserver 127.0.0.1\n');
  writeFileSync(resolvConf, 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n');
  return resolvedDir;
}

test('systemd-resolved: per-link DNS and domains on the TUN link, reverted on restore', async () => {
  const resolvedDir = await resolvedLayout();
  const fake = fakeResolvectl();
  const before = readFileSync(resolvConf);
  const rc = createResolverConfigurator(options({ resolvedDir, link: 'tp0', runCommand: fake.run }), 'linux');
  const applied = await rc.apply(settings);
  assert.equal(applied.mode, 'resolved');
  assert.deepEqual(applied.upstream, [{ address: '192.0.2.1', port: 53 }], 'resolved\'s upstream, never its stub nor the daemon');
  assert.deepEqual(fake.calls, [
    'resolvectl status --no-pager',
    'resolvectl dns tp0 127.0.0.1',
    'resolvectl domain tp0 samples.svc.cluster.local ~svc ~cluster.local ~samples ~default',
    'resolvectl default-route tp0 false',
    'resolvectl flush-caches',
  ]);
  assert.deepEqual(readFileSync(resolvConf), before, 'resolv.conf untouched');
  assert.deepEqual(JSON.parse(readFileSync(journal, 'utf8')), { version: 1, kind: 'resolved', link: 'tp0', owner: process.pid });
  await rc.update({ ...settings, namespaces: ['samples', 'default', 'new'] });
  assert.equal(fake.calls.at(-2), 'resolvectl domain tp0 samples.svc.cluster.local ~svc ~cluster.local ~samples ~default ~new');
  await rc.restore();
  assert.equal(fake.calls.at(-1), 'resolvectl revert tp0');
  assert.ok(!existsSync(journal));
});

test('systemd-resolved: a crashed run is reverted on the next start, even when the link is gone', async () => {
  const resolvedDir = await resolvedLayout();
  await new LinuxResolverConfig(options({ resolvedDir, link: 'tp0', runCommand: fakeResolvectl().run })).apply(settings);
  const later = fakeResolvectl(['resolvectl revert']);
  assert.equal(await recoverLinuxResolver(options({ runCommand: later.run })), 'restored');
  assert.deepEqual(later.calls, ['resolvectl revert tp0']);
  assert.ok(!existsSync(journal));
});

test('systemd-resolved: a failing resolvectl undoes what was done and reports why', async () => {
  const resolvedDir = await resolvedLayout();
  const fake = fakeResolvectl(['resolvectl domain']);
  const rc = new LinuxResolverConfig(options({ resolvedDir, link: 'tp0', runCommand: fake.run }));
  await assert.rejects(rc.apply(settings), /resolvectl domain tp0 .* failed: Failed/);
  assert.equal(fake.calls.at(-1), 'resolvectl revert tp0');
  assert.ok(!existsSync(journal));
});

test('systemd-resolved is used only when it runs and resolv.conf points at it', async () => {
  const resolvedDir = await resolvedLayout();
  assert.equal(await usesSystemdResolved(resolvConf, resolvedDir, fakeResolvectl().run), true);
  assert.equal(await usesSystemdResolved(resolvConf, path.join(dir, 'absent'), fakeResolvectl().run), false);
  assert.equal(await usesSystemdResolved(resolvConf, resolvedDir, fakeResolvectl(['resolvectl status']).run), false);
  writeFileSync(resolvConf, 'nameserver 192.0.2.53\n');
  assert.equal(await usesSystemdResolved(resolvConf, resolvedDir, fakeResolvectl().run), false);
  // a symlink into resolved's folder counts, whatever it names
  const stub = path.join(resolvedDir, 'stub-resolv.conf');
  writeFileSync(stub, 'nameserver 10.0.0.1\n');
  const link = path.join(dir, 'linked.conf');
  await fs.symlink(stub, link);
  assert.equal(await usesSystemdResolved(link, resolvedDir, fakeResolvectl().run), true);
  // without a TUN link name, the rewrite is the only way
  const rc = new LinuxResolverConfig(options({ resolvedDir, runCommand: fakeResolvectl().run }));
  writeFileSync(resolvConf, 'nameserver 127.0.0.53\n');
  assert.equal((await rc.apply(settings)).mode, 'resolv.conf');
  await rc.restore();
});

test('routing domains: one search domain, the rest routing-only, no duplicates', () => {
  assert.deepEqual(resolvedDomains({ ...settings, namespaces: ['samples', 'svc'] }), ['samples.svc.cluster.local', '~svc', '~cluster.local', '~samples']);
  assert.deepEqual(resolvedDomains({ ...settings, connectedNamespace: '', namespaces: [] }), ['~svc', '~cluster.local']);
});

test('other platforms are refused clearly', () => {
  assert.throws(() => createResolverConfigurator(options(), 'darwin'), /not supported on darwin/);
});
