/**
 * What every platform's resolver configuration shares: the settings it applies, what it reports
 * back, and the injected command runner.
 */
import { execFile } from 'node:child_process';
import type { DnsLogger } from './dnsLogger.js';
import type { Nameserver } from './forwarder.js';

export interface ResolverSettings {
  /** Address the daemon's DNS server listens on, port 53. */
  dnsIp: string;
  /** e.g. `cluster.local`. */
  clusterDomain: string;
  /** Short names resolve here; empty for none. */
  connectedNamespace: string;
  /** Namespaces whose names (`svc.ns`) the workstation should send to the daemon. */
  namespaces: readonly string[];
}

export interface AppliedResolver {
  /** How the workstation was configured. */
  mode: 'resolved' | 'resolv.conf';
  /** Where the daemon forwards names that are not the cluster's: the resolver the workstation
   * used before (never the daemon itself). */
  upstream: Nameserver[];
}

export interface ResolverConfigurator {
  /** Journals, then changes the workstation's resolver. Undoes a journaled earlier run first. */
  apply(settings: ResolverSettings): Promise<AppliedResolver>;
  /** New namespace list or connected namespace, while applied. */
  update(settings: ResolverSettings): Promise<void>;
  /** Puts back what apply changed and removes the journal; a no-op when nothing is applied. */
  restore(): Promise<void>;
}

/** Runs a program without a shell; never rejects for a non-zero exit. */
export type CommandRunner = (cmd: string, args: readonly string[]) => Promise<CommandResult>;

export interface CommandResult {
  /** Exit code; null when it could not be started or was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ResolverConfigOptions {
  /** Where the change is journaled, e.g. `/var/lib/telepath/resolver.json`. */
  journalPath: string;
  logger: DnsLogger;
  /** The TUN device; systemd-resolved's per-link DNS needs one. */
  link?: string;
  resolvConfPath?: string;
  /** systemd-resolved's runtime folder. */
  resolvedDir?: string;
  runCommand?: CommandRunner;
  /** `auto` (default) picks systemd-resolved when it manages the workstation's DNS. */
  mode?: 'auto' | 'resolved' | 'resolv.conf';
}

export const execCommand: CommandRunner = (cmd, args) =>
  new Promise<CommandResult>((resolve) => {
    execFile(cmd, [...args], { timeout: 10_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr: stderr || (error && code === null ? error.message : '') });
    });
  });

/**
 * What recovery found: `nothing` journaled; `restored` the original is back; `left-alone` the
 * file had been replaced by someone else since, and their version was kept.
 */
export type RecoveryResult = 'nothing' | 'restored' | 'left-alone';
