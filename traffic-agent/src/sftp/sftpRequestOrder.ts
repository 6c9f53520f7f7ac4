/**
 * The order in which one SFTP session's requests run. OpenSSH's sftp-server handles requests one
 * at a time, and sshfs relies on it: creating a file, it sends OPEN and, without waiting, an LSTAT
 * of the new name, which must see the file. So every request that changes something (or depends
 * on a handle's state, like READDIR) runs alone, after all before it; requests that only look
 * (READ, STAT, …) run side by side between two such requests, keeping the disk busy for the
 * parallel reads sshfs and ssh2 send.
 */
export class RequestOrder {
  /** Settles when every request scheduled so far has settled. */
  private all: Promise<void> = Promise.resolve();
  /** Settles when the last exclusive request, and everything before it, has settled. */
  private barrier: Promise<void> = Promise.resolve();

  /** Runs `fn` after the last exclusive request, alongside other shared ones. */
  shared(fn: () => Promise<void>): void {
    const done = this.barrier.then(fn).then(settled, settled);
    this.all = Promise.all([this.all, done]).then(settled);
  }

  /** Runs `fn` after every request scheduled before it; later ones wait for it. */
  exclusive(fn: () => Promise<void>): void {
    const done = this.all.then(fn).then(settled, settled);
    this.all = done;
    this.barrier = done;
  }
}

function settled(): void {
  // Each request answers its own failure; the order only tracks that it is over.
}
