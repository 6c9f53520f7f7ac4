/**
 * The workstation's resolver on Linux, two ways:
 *
 * - systemd-resolved manages DNS (its runtime folder exists, `resolvectl` answers, and
 *   /etc/resolv.conf points at its stub): per-link DNS on the TUN device. The connected
 *   namespace's `<ns>.svc.<domain>` becomes a search domain on the link (so `echo` is tried as
 *   `echo.<ns>.svc.<domain>`), and `~svc`, `~<domain>` and `~<namespace>` for every namespace
 *   are routing-only domains, so exactly those names reach the daemon and nothing else does.
 *   `resolvectl revert` undoes it, and resolved forgets the link by itself when the TUN device
 *   goes away, so a crash leaves nothing behind but a journal entry.
 * - otherwise /etc/resolv.conf is rewritten (see resolvConf.ts). IN PLACE: the file may be a bind
 *   mount (containers, `ip netns exec`, the test workstation) or a symlink into a resolver
 *   manager's folder, and renaming over either would fail or detach it. The exact original bytes
 *   are journaled before the first byte changes and written back on restore.
 *
 * If someone else rewrote resolv.conf while Telepath was connected (a DHCP client, NetworkManager)
 * their file is newer than the original; restore keeps theirs unless it still carries Telepath's
 * marker, and says so in the log.
 */
import { promises as fs } from 'node:fs';
import type { DnsLogger } from './dnsLogger.js';
import type { Nameserver } from './forwarder.js';
import { TELEPATH_MARKER, parseResolvConf, rewriteResolvConf, upstreamNameservers } from './resolvConf.js';
import { readJournal, removeJournal, writeJournal, type ResolverJournalEntry } from './resolverJournal.js';
import {
  execCommand,
  type AppliedResolver,
  type CommandRunner,
  type RecoveryResult,
  type ResolverConfigOptions,
  type ResolverConfigurator,
  type ResolverSettings,
} from './resolverTypes.js';

const DEFAULT_RESOLV_CONF = '/etc/resolv.conf';
const DEFAULT_RESOLVED_DIR = '/run/systemd/resolve';
/** The addresses of systemd-resolved's stub resolver. */
export const RESOLVED_STUBS = ['127.0.0.53', '127.0.0.54'];

export class LinuxResolverConfig implements ResolverConfigurator {
  private readonly resolvConfPath: string;
  private readonly resolvedDir: string;
  private readonly run: CommandRunner;
  private readonly logger: DnsLogger;
  private applied: { mode: 'resolved'; link: string } | { mode: 'resolv.conf'; original: Buffer } | undefined;

  constructor(private readonly options: ResolverConfigOptions) {
    this.resolvConfPath = options.resolvConfPath ?? DEFAULT_RESOLV_CONF;
    this.resolvedDir = options.resolvedDir ?? DEFAULT_RESOLVED_DIR;
    this.run = options.runCommand ?? execCommand;
    this.logger = options.logger;
  }

  async apply(settings: ResolverSettings): Promise<AppliedResolver> {
    if (this.applied) throw new Error('the resolver configuration is already applied; call update()');
    const recovered = await recoverLinuxResolver(this.options);
    if (recovered !== 'nothing') this.logger.info('undid the resolver change of an earlier run', { result: recovered });
    const mode = await this.chooseMode();
    if (mode === 'resolved') return this.applyResolved(settings);
    return this.applyResolvConf(settings);
  }

  async update(settings: ResolverSettings): Promise<void> {
    const applied = this.applied;
    if (!applied) throw new Error('the resolver configuration is not applied');
    if (applied.mode === 'resolved') {
      await this.resolvectl(['domain', applied.link, ...resolvedDomains(settings)]);
      await this.flushCaches();
      return;
    }
    const written = Buffer.from(rewriteResolvConf(applied.original.toString('utf8'), { dnsIp: settings.dnsIp, searchPrefix: searchPrefix(settings) }));
    await writeJournal(this.options.journalPath, journalForResolvConf(this.resolvConfPath, applied.original, written));
    await writeInPlace(this.resolvConfPath, written);
  }

  async restore(): Promise<void> {
    if (!this.applied) return;
    this.applied = undefined;
    const result = await recoverLinuxResolver(this.options);
    this.logger.info('resolver configuration restored', { result });
  }

  private async chooseMode(): Promise<'resolved' | 'resolv.conf'> {
    const wanted = this.options.mode ?? 'auto';
    if (wanted !== 'auto') {
      if (wanted === 'resolved' && !this.options.link) throw new Error('systemd-resolved mode needs the TUN link name');
      return wanted;
    }
    if (!this.options.link) return 'resolv.conf';
    return (await usesSystemdResolved(this.resolvConfPath, this.resolvedDir, this.run)) ? 'resolved' : 'resolv.conf';
  }

  private async applyResolved(settings: ResolverSettings): Promise<AppliedResolver> {
    const link = this.options.link!;
    await writeJournal(this.options.journalPath, { version: 1, kind: 'resolved', link, owner: process.pid });
    this.applied = { mode: 'resolved', link };
    try {
      await this.resolvectl(['dns', link, settings.dnsIp]);
      await this.resolvectl(['domain', link, ...resolvedDomains(settings)]);
      // Without this, resolved may use the link for names no routing domain matches.
      const r = await this.run('resolvectl', ['default-route', link, 'false']);
      if (r.code !== 0) this.logger.debug('resolvectl default-route failed (old systemd?)', { stderr: r.stderr.trim() });
      await this.flushCaches();
    } catch (e) {
      await this.restore().catch(() => {});
      throw e;
    }
    // Names the daemon forwards go to resolved's upstream servers, not back to its stub (which
    // would route some of them to the daemon again).
    const upstream = await readUpstream(`${this.resolvedDir}/resolv.conf`, settings.dnsIp);
    this.logger.info('DNS configured with systemd-resolved', { link, dns: settings.dnsIp });
    return { mode: 'resolved', upstream: upstream.length > 0 ? upstream : [{ address: RESOLVED_STUBS[0]!, port: 53 }] };
  }

  private async applyResolvConf(settings: ResolverSettings): Promise<AppliedResolver> {
    const original = await fs.readFile(this.resolvConfPath);
    const written = Buffer.from(rewriteResolvConf(original.toString('utf8'), { dnsIp: settings.dnsIp, searchPrefix: searchPrefix(settings) }));
    await writeJournal(this.options.journalPath, journalForResolvConf(this.resolvConfPath, original, written));
    this.applied = { mode: 'resolv.conf', original };
    try {
      await writeInPlace(this.resolvConfPath, written);
    } catch (e) {
      await this.restore().catch(() => {});
      throw e;
    }
    this.logger.info('DNS configured in resolv.conf', { path: this.resolvConfPath, dns: settings.dnsIp });
    return { mode: 'resolv.conf', upstream: upstreamNameservers(parseResolvConf(original.toString('utf8')), [settings.dnsIp]) };
  }

  private async resolvectl(args: string[]): Promise<void> {
    const r = await this.run('resolvectl', args);
    if (r.code !== 0) throw new Error(`resolvectl ${args.join(' ')} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  }

  private async flushCaches(): Promise<void> {
    // A cached NXDOMAIN from before the connection would otherwise hide a cluster name.
    const r = await this.run('resolvectl', ['flush-caches']);
    if (r.code !== 0) this.logger.debug('resolvectl flush-caches failed', { stderr: r.stderr.trim() });
  }
}

/**
 * Undoes what a journal says was changed, then removes the journal. Safe to call any time: with
 * no journal it does nothing. A journal that cannot be read is set aside (renamed `.bad`) rather
 * than blocking every later start.
 */
export async function recoverLinuxResolver(options: ResolverConfigOptions): Promise<RecoveryResult> {
  const { journalPath, logger } = options;
  let entry: ResolverJournalEntry | undefined;
  try {
    entry = await readJournal(journalPath);
  } catch (e) {
    logger.warn('unreadable resolver journal set aside', { path: journalPath, error: e instanceof Error ? e.message : String(e) });
    await fs.rename(journalPath, `${journalPath}.bad`).catch(() => {});
    return 'nothing';
  }
  if (!entry) return 'nothing';
  let result: RecoveryResult;
  if (entry.kind === 'resolved') {
    const r = await (options.runCommand ?? execCommand)('resolvectl', ['revert', entry.link]);
    // The link is usually gone already (the TUN device died with the daemon), and with it
    // everything resolved knew about it.
    if (r.code !== 0) logger.debug('resolvectl revert failed', { link: entry.link, stderr: r.stderr.trim() });
    result = 'restored';
  } else {
    result = await restoreResolvConf(entry.path, Buffer.from(entry.original, 'base64'), Buffer.from(entry.written, 'base64'), logger);
  }
  await removeJournal(journalPath);
  return result;
}

async function restoreResolvConf(file: string, original: Buffer, written: Buffer, logger: DnsLogger): Promise<RecoveryResult> {
  let current: Buffer | undefined;
  try {
    current = await fs.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (current === undefined) {
    // Removed by someone else: put the original back, as the user had it.
    await fs.writeFile(file, original);
    return 'restored';
  }
  const ours = current.equals(written) || current.equals(original) || current.toString('utf8').includes(TELEPATH_MARKER);
  if (!ours) {
    logger.warn('resolv.conf was replaced by another program while Telepath was connected; keeping that version', { path: file });
    return 'left-alone';
  }
  if (!current.equals(original)) await writeInPlace(file, original);
  return 'restored';
}

/**
 * Overwrites a file's bytes without replacing the file: same inode, so bind mounts and symlinks
 * keep pointing at it. New bytes go in first and the tail is cut after, so a crash in between
 * leaves a longer file rather than an empty one (and the journal still has the original).
 */
export async function writeInPlace(file: string, bytes: Buffer): Promise<void> {
  const fh = await fs.open(file, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, 0);
    await fh.truncate(bytes.length);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function journalForResolvConf(file: string, original: Buffer, written: Buffer): ResolverJournalEntry {
  return { version: 1, kind: 'resolv.conf', path: file, original: original.toString('base64'), written: written.toString('base64'), owner: process.pid };
}

/** `<ns>.svc.<domain> svc.<domain> <domain>`: what a pod in the connected namespace has. */
export function searchPrefix(s: ResolverSettings): string[] {
  const d = s.clusterDomain.replace(/\.$/, '');
  return [...(s.connectedNamespace ? [`${s.connectedNamespace}.svc.${d}`] : []), `svc.${d}`, d];
}

/** The link's domains for resolved: one search domain, the rest routing-only (`~`). */
export function resolvedDomains(s: ResolverSettings): string[] {
  const d = s.clusterDomain.replace(/\.$/, '');
  const routing = ['svc', d, ...s.namespaces].map((x) => `~${x}`);
  return [...(s.connectedNamespace ? [`${s.connectedNamespace}.svc.${d}`] : []), ...[...new Set(routing)]];
}

/** systemd-resolved runs, answers, and is what /etc/resolv.conf sends glibc to. */
export async function usesSystemdResolved(resolvConfPath: string, resolvedDir: string, run: CommandRunner): Promise<boolean> {
  try {
    await fs.access(resolvedDir);
  } catch {
    return false;
  }
  if ((await run('resolvectl', ['status', '--no-pager'])).code !== 0) return false;
  // resolved running beside a static resolv.conf would not see glibc's queries at all.
  const target = await fs.realpath(resolvConfPath).catch(() => resolvConfPath);
  if (target.startsWith(`${resolvedDir}/`)) return true;
  const text = await fs.readFile(resolvConfPath, 'utf8').catch(() => '');
  return parseResolvConf(text).nameservers.some((ns) => RESOLVED_STUBS.includes(ns));
}

async function readUpstream(file: string, dnsIp: string): Promise<Nameserver[]> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return upstreamNameservers(parseResolvConf(text), [dnsIp, ...RESOLVED_STUBS]);
}
