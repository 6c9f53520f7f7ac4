/**
 * The record of a resolver change the daemon has made, written before the change, so that the
 * next start can undo it after a crash. One small JSON file; replaced atomically (temp file,
 * fsync, rename, fsync of the folder) so a crash leaves either the old or the new record, never
 * half of one. The journal is the daemon's own file, so renaming over it is fine (unlike
 * resolv.conf, which may be a bind mount and is always written in place).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

export type ResolverJournalEntry =
  | {
      version: 1;
      kind: 'resolv.conf';
      /** The file that was rewritten. */
      path: string;
      /** Its exact bytes before Telepath touched it, base64. */
      original: string;
      /** What Telepath last wrote there, base64 (to tell its own content from someone else's). */
      written: string;
      /** The process that made the change (its resolver guard undoes it only for that one). */
      owner?: number;
    }
  | { version: 1; kind: 'resolved'; link: string; owner?: number };

export async function writeJournal(journalPath: string, entry: ResolverJournalEntry): Promise<void> {
  const dir = path.dirname(journalPath);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${journalPath}.${process.pid}.tmp`;
  const fh = await fs.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(entry) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, journalPath);
  await syncDir(dir);
}

/** The journaled change, undefined when there is none. Throws when the file exists but is not a
 * journal Telepath wrote (the caller decides whether to set it aside). */
export async function readJournal(journalPath: string): Promise<ResolverJournalEntry | undefined> {
  let text: string;
  try {
    text = await fs.readFile(journalPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const entry: unknown = JSON.parse(text);
  if (!isJournalEntry(entry)) throw new Error(`${journalPath} is not a resolver journal`);
  return entry;
}

export async function removeJournal(journalPath: string): Promise<void> {
  await fs.rm(journalPath, { force: true });
  await syncDir(path.dirname(journalPath)).catch(() => {});
}

function isJournalEntry(x: unknown): x is ResolverJournalEntry {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  if (o.version !== 1) return false;
  if (o.owner !== undefined && !Number.isInteger(o.owner)) return false;
  if (o.kind === 'resolv.conf') return typeof o.path === 'string' && typeof o.original === 'string' && typeof o.written === 'string';
  if (o.kind === 'resolved') return typeof o.link === 'string';
  return false;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
