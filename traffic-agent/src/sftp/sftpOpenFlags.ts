/**
 * SFTP OPEN's pflags (SSH_FXF_*, draft-ietf-secsh-filexfer-02 section 6.3) as open(2) flags, the
 * way OpenSSH's sftp-server maps them.
 */
import { constants } from 'node:fs';

export const SftpOpenFlag = {
  READ: 0x01,
  WRITE: 0x02,
  APPEND: 0x04,
  CREAT: 0x08,
  TRUNC: 0x10,
  EXCL: 0x20,
} as const;

export function fsOpenFlags(pflags: number): number {
  const read = (pflags & SftpOpenFlag.READ) !== 0;
  const write = (pflags & SftpOpenFlag.WRITE) !== 0;
  let flags = read && write ? constants.O_RDWR : write ? constants.O_WRONLY : constants.O_RDONLY;
  if (pflags & SftpOpenFlag.APPEND) flags |= constants.O_APPEND;
  if (pflags & SftpOpenFlag.CREAT) flags |= constants.O_CREAT;
  if (pflags & SftpOpenFlag.TRUNC) flags |= constants.O_TRUNC;
  if (pflags & SftpOpenFlag.EXCL) flags |= constants.O_EXCL;
  return flags;
}

/** Whether the open may change the file system: these flags all do, even without WRITE (TRUNC, CREAT). */
export function opensForWriting(pflags: number): boolean {
  return (pflags & (SftpOpenFlag.WRITE | SftpOpenFlag.APPEND | SftpOpenFlag.CREAT | SftpOpenFlag.TRUNC)) !== 0;
}
