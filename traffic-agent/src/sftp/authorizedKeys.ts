/**
 * The public keys the SFTP server lets in, as the manager hands them over (AgentIntercepts
 * .volume_keys: the keys of the workload's intercepts whose holders may mount its volumes). The
 * set is replaced whole on every message; a key that leaves it ends the logins made with it, so a
 * withdrawn right (or an ended intercept) takes the volumes away at once, not at the next login.
 */
import type { ParsedKey } from 'ssh2';
import { parseSshKey } from '../../../common/src/sshKeys.js';

/** A key's identity: its type and its public blob, as an SSH client presents them. */
export function keyId(algo: string, blob: Buffer): string {
  return `${algo} ${blob.toString('base64')}`;
}

export class AuthorizedKeys {
  private keys = new Map<string, ParsedKey>();
  private readonly removedListeners = new Set<(removed: ReadonlySet<string>) => void>();

  /** Starts with `lines` (OpenSSH public keys); throws on one that is not a public key. */
  constructor(lines: readonly string[] = []) {
    this.keys = parseAll(lines, (_line, e) => {
      throw e;
    });
  }

  /**
   * Makes `lines` the whole set; a line that is no public key is skipped and reported to
   * `onBadKey`. Listeners hear which keys left.
   */
  replace(lines: readonly string[], onBadKey: (line: string, error: Error) => void = () => undefined): void {
    const next = parseAll(lines, onBadKey);
    const removed = new Set([...this.keys.keys()].filter((id) => !next.has(id)));
    this.keys = next;
    if (removed.size) for (const l of [...this.removedListeners]) l(removed);
  }

  /** The key with this type and blob, when it is in the set. */
  find(algo: string, blob: Buffer): ParsedKey | undefined {
    return this.keys.get(keyId(algo, blob));
  }

  /** Calls `listener` with the ids of keys that leave the set; returns the function that stops it. */
  onRemoved(listener: (removed: ReadonlySet<string>) => void): () => void {
    this.removedListeners.add(listener);
    return () => this.removedListeners.delete(listener);
  }

  get size(): number {
    return this.keys.size;
  }
}

function parseAll(lines: readonly string[], onBadKey: (line: string, error: Error) => void): Map<string, ParsedKey> {
  const out = new Map<string, ParsedKey>();
  for (const line of lines) {
    try {
      const key = parseSshKey(line.trim(), 'an authorized key');
      if (key.isPrivateKey()) throw new Error('an authorized key must be a public key, not a private one');
      out.set(keyId(key.type, key.getPublicSSH()), key);
    } catch (e) {
      onBadKey(line, e as Error);
    }
  }
  return out;
}
