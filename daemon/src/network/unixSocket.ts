/**
 * The unix sockets Telepath's processes serve on (the daemon's API, the network role's): only the
 * owner may connect, and a socket file left by a process that died is replaced, while one that
 * still answers is not.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** True when something accepts connections on the socket. */
export function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Listens on `socketPath`, created mode 0600 (nobody else may connect, not even between creation
 * and a chmod); rejects with `inUse` when another process answers there.
 */
export async function listenOwnerOnly(server: net.Server, socketPath: string, inUse: string): Promise<void> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  if (fs.existsSync(socketPath)) {
    if (await answers(socketPath)) throw new Error(inUse);
    fs.rmSync(socketPath, { force: true }); // left by a process that died
  }
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
}
