/**
 * ssh2 writes every SSH packet as three or four pieces (with AES-GCM: the length, the ciphertext,
 * the tag), and sends an SFTP read's answer as two packets (its header, its data), each piece a
 * socket.write of its own: six system calls per 32 KiB that sshfs reads, most of them a few bytes,
 * and as many small reads for whoever is on the other end of the loopback connection (the
 * port-forward in containerd). Corked from the first write until the event loop's check phase,
 * everything a turn of the loop writes leaves in one writev.
 */
import type { Socket } from 'node:net';

export function coalesceWrites(socket: Socket): void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  const write = socket.write;
  socket.write = function (this: Socket, ...args: unknown[]): boolean {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as Socket['write'];
}
