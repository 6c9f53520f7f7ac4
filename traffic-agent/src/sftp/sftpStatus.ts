/**
 * What the SFTP server answers, as pure functions: the status for a failed file system call, the
 * attributes for an fs.Stats, and the `ls -l` line that SFTP version 3 sends with each directory
 * entry (clients such as `sftp` print it as is).
 */
import type { Stats } from 'node:fs';
import { getSystemErrorMap } from 'node:util';

/** SSH_FX_* status codes of SFTP version 3 (draft-ietf-secsh-filexfer-02, section 7). */
export const SftpStatus = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  OP_UNSUPPORTED: 8,
} as const;
export type SftpStatusCode = (typeof SftpStatus)[keyof typeof SftpStatus];

/** Attributes as SFTP version 3 carries them: times in whole seconds. */
export interface SftpAttrs {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atime: number;
  mtime: number;
}

export interface SftpFailure {
  code: SftpStatusCode;
  message: string;
}

/**
 * The status for an error thrown by node:fs (or by path resolution, which uses errno codes too).
 * Like OpenSSH's sftp-server, plus EROFS as "permission denied" since a read-only volume is the
 * usual reason here. The message names the error, never the agent's real path.
 */
export function statusForError(err: unknown): SftpFailure {
  const code = errorCode(err);
  const message = describe(err, code);
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ELOOP':
    case 'EBADF':
      return { code: SftpStatus.NO_SUCH_FILE, message };
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return { code: SftpStatus.PERMISSION_DENIED, message };
    case 'ENAMETOOLONG':
    case 'EINVAL':
      return { code: SftpStatus.BAD_MESSAGE, message };
    case 'ENOSYS':
    case 'EOPNOTSUPP':
      return { code: SftpStatus.OP_UNSUPPORTED, message };
    default:
      return { code: SftpStatus.FAILURE, message };
  }
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

function describe(err: unknown, code: string | undefined): string {
  // A Node errno error's message holds the real path ("ENOENT: …, open '/telepath-agent-mounts/…'");
  // the system's own text for the errno says the same without it.
  if (err instanceof Error && 'errno' in err && typeof err.errno === 'number' && 'syscall' in err) {
    const text = getSystemErrorMap().get(err.errno)?.[1];
    if (text !== undefined) return `${text} (${code ?? err.errno})`;
  }
  return err instanceof Error ? err.message : String(err);
}

export function attrsFromStats(st: Stats): SftpAttrs {
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** `ls` shows the time of day for dates within about half a year, the year for older ones. */
const SIX_MONTHS_S = 182 * 24 * 3600;

/**
 * One `ls -l` line in OpenSSH's layout ("%s %3u %-8s %-8s %8llu %s %s"). Owners are numbers: the
 * agent's image knows nothing of the app's user names. Dates are in UTC, the agent's time zone.
 */
export function longname(name: string, st: Pick<Stats, 'mode' | 'nlink' | 'uid' | 'gid' | 'size' | 'mtimeMs'>, nowMs: number): string {
  const date = new Date(st.mtimeMs);
  const month = MONTHS[date.getUTCMonth()];
  const day = String(date.getUTCDate()).padStart(2, ' ');
  const recent = Math.abs(nowMs - st.mtimeMs) / 1000 < SIX_MONTHS_S;
  const when = recent
    ? `${String(date.getUTCHours()).padStart(2, '0')}:${String(date.getUTCMinutes()).padStart(2, '0')}`
    : ` ${date.getUTCFullYear()}`;
  const nlink = String(st.nlink).padStart(3, ' ');
  const uid = String(st.uid).padEnd(8, ' ');
  const gid = String(st.gid).padEnd(8, ' ');
  const size = String(st.size).padStart(8, ' ');
  return `${modeString(st.mode)} ${nlink} ${uid} ${gid} ${size} ${month} ${day} ${when} ${name}`;
}

const S_IFMT = 0o170000;
const TYPE_CHARS: ReadonlyMap<number, string> = new Map([
  [0o140000, 's'],
  [0o120000, 'l'],
  [0o100000, '-'],
  [0o060000, 'b'],
  [0o040000, 'd'],
  [0o020000, 'c'],
  [0o010000, 'p'],
]);

/** "drwxr-xr-x", with s/S and t/T for the setuid, setgid and sticky bits. */
export function modeString(mode: number): string {
  const type = TYPE_CHARS.get(mode & S_IFMT) ?? '?';
  const triple = (shift: number, special: boolean, specialChar: string): string => {
    const bits = (mode >> shift) & 7;
    const x = bits & 1;
    const exec = special ? (x ? specialChar : specialChar.toUpperCase()) : x ? 'x' : '-';
    return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${exec}`;
  };
  return type + triple(6, (mode & 0o4000) !== 0, 's') + triple(3, (mode & 0o2000) !== 0, 's') + triple(0, (mode & 0o1000) !== 0, 't');
}
