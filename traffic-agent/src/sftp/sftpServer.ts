/**
 * The agent's SSH server that offers the app container's volume mounts over SFTP, for the daemon
 * to mount with sshfs (Telepresence does the same with its agent's sftp-server).
 *
 * Only the "sftp" subsystem is served: no shell, exec, or port forwarding, so the server cannot be
 * used to run anything in the pod or to reach further into the cluster.
 *
 * Who can connect: the server listens on the pod's loopback only, so the way in is a Kubernetes
 * port-forward to the agent pod, which the API server grants only to users with the
 * `pods/portforward` right in the namespace; and then only with a public key of `authorizedKeys`,
 * which the manager hands over for intercepts whose holders may mount the volumes
 * (authorizedKeys.ts). A port-forward alone is not enough: the workstation end of a daemon's
 * forward is a local TCP port that other local users can reach too.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { type AuthContext, type CipherAlgorithm, type Connection, Server } from 'ssh2';
import type { Logger } from '../../../common/src/log/jsonLogger.js';
import { coalesceWrites } from './coalescedWrites.js';
import { checkDiskAccess } from './sftpDisk.js';
import { serveSftp } from './sftpSession.js';
import { pauseWhileStopped, WriteBacklog } from './writeBacklog.js';
import { generateEd25519KeyPair, parseSshKey } from '../../../common/src/sshKeys.js';
import { AuthorizedKeys, keyId } from './authorizedKeys.js';

export interface SftpServerOptions {
  /** The directory whose contents the client sees as "/" (the agent's mount root). */
  root: string;
  /** 0 for any free port. */
  port: number;
  /** Default 127.0.0.1: see the comment at the top for why it must stay on loopback. */
  host?: string;
  /** Absolute paths under `root` that refuse every change (the read-only volume mounts). */
  readOnlyPaths: string[];
  logger: Logger;
  /**
   * The public keys let in (and no other way in); a key that leaves the set ends the logins made
   * with it. Without it, any login is let in: only for tests, which reach the server directly.
   */
  authorizedKeys?: AuthorizedKeys;
  /** One OpenSSH public key ("ssh-ed25519 AAAA… comment") as the only key: authorizedKeys of one. */
  authorizedKey?: string;
  /** WRITE data held before reading stops, and again when it resumes (for tests; bytes). */
  writeBacklog?: { high: number; low: number };
  /** For tests; runs after each client path is resolved and before it is used (to race it). */
  afterResolve?: (clientPath: string) => Promise<void>;
}

export interface SftpServer {
  port: number;
  /** OpenSSH's "SHA256:…" fingerprint of the host key generated at start. */
  hostKeyFingerprint: string;
  /** The host key as one known_hosts key ("ssh-ed25519 AAAA…"), for strict host key checking. */
  hostPublicKey: string;
  /** The most WRITE data held in memory at once so far (bytes). */
  readonly writeBacklogPeak: number;
  /** Stops listening and ends every connection. */
  close(): Promise<void>;
}

/**
 * WRITE data held in memory (see WriteBacklog): well under the agent container's 128 MiB limit,
 * and far more than the 32 KiB writes of sshfs need to keep the disk busy.
 */
const WRITE_BACKLOG_HIGH = 16 << 20;
const WRITE_BACKLOG_LOW = 4 << 20;

/**
 * AES only, which Node's OpenSSL runs with the CPU's AES instructions. OpenSSH's client prefers
 * chacha20-poly1305, which ssh2 does in JavaScript unless its optional native addon is built, and
 * the agent's bundle carries no native code.
 */
const CIPHERS: CipherAlgorithm[] = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr'];

export async function startSftpServer(options: SftpServerOptions): Promise<SftpServer> {
  const log = options.logger;
  // Paths are compared as strings, so everything is in its real form: a root reached through a
  // symlink (/tmp on macOS, a test's temp dir) would otherwise never match a resolved path.
  const root = await fsp.realpath(options.root);
  // Without /proc/self/fd the guard against symlink races would be gone: serve nothing then.
  await checkDiskAccess(root);
  const readOnlyPaths = await Promise.all(options.readOnlyPaths.map((p) => realOrResolved(p)));
  const allowedKeys = options.authorizedKeys ?? (options.authorizedKey === undefined ? undefined : new AuthorizedKeys([options.authorizedKey]));

  // A fresh key at every start: nothing to store (the agent's file system is read-only) and
  // nothing to leak. The daemon learns it from hostPublicKey or trusts the port-forward.
  const pair = generateEd25519KeyPair();
  const hostKey = parseSshKey(pair.private, 'the generated host key');
  const hostBlob = hostKey.getPublicSSH();
  const hostKeyFingerprint = `SHA256:${createHash('sha256').update(hostBlob).digest('base64').replace(/=+$/, '')}`;
  const hostPublicKey = `${hostKey.type} ${hostBlob.toString('base64')}`;

  const connections = new Set<Connection>();
  const sockets = new Set<net.Socket>();
  const limits = options.writeBacklog ?? { high: WRITE_BACKLOG_HIGH, low: WRITE_BACKLOG_LOW };
  const writeBacklog = new WriteBacklog(limits.high, limits.low, (stop) => {
    log.debug(stop ? 'sftp: writes pile up; reading no more until they are on disk' : 'sftp: reading again', { sockets: sockets.size });
    for (const socket of sockets) {
      if (stop) socket.pause();
      else socket.resume();
    }
  });
  const server = new Server({ hostKeys: [pair.private], ident: 'telepath-agent', algorithms: { cipher: CIPHERS } }, (client, info) => {
    connections.add(client);
    const peer = `${info.ip}:${info.port}`;
    log.debug('sftp connection', { peer });
    let loggedInWith: string | undefined;
    client.on('authentication', (ctx) => {
      const id = authenticate(ctx, allowedKeys);
      if (id !== undefined) loggedInWith = id;
    });
    const stopWatchingKeys = allowedKeys?.onRemoved((removed) => {
      if (loggedInWith !== undefined && removed.has(loggedInWith)) {
        log.info('sftp login ended: its key was withdrawn', { peer });
        client.end();
      }
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        session.on('sftp', (acceptSftp) => {
          log.info('sftp session started', { peer });
          serveSftp(acceptSftp(), { root, readOnlyPaths, logger: log, writeBacklog, afterResolve: options.afterResolve });
        });
      });
    });
    // A vanished port-forward resets the socket; that must not take the agent down.
    client.on('error', (err) => log.debug('sftp connection error', { peer, error: err.message }));
    client.on('close', () => {
      stopWatchingKeys?.();
      connections.delete(client);
      log.debug('sftp connection closed', { peer });
    });
  });
  server.on('error', (err: Error) => log.warn('sftp server error', { error: err.message }));
  // Our own listener, so that each connection's writes are coalesced before ssh2 takes it. No
  // Nagle: sshfs pipelines small requests, and an answer would wait for the client's delayed ACK
  // (some 40 ms) whenever an earlier one is unacknowledged.
  const listener = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    pauseWhileStopped(socket, writeBacklog);
    coalesceWrites(socket);
    server.injectSocket(socket);
  });
  listener.on('error', (err: Error) => log.warn('sftp server error', { error: err.message }));

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(options.port, host, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  const port = (listener.address() as AddressInfo).port;
  log.info('sftp server listening', { host, port, root, readOnlyPaths, hostKeyFingerprint, auth: allowedKeys ? 'publickey' : 'anyone' });

  return {
    port,
    hostKeyFingerprint,
    hostPublicKey,
    get writeBacklogPeak() {
      return writeBacklog.peak;
    },
    close: () =>
      new Promise<void>((resolve) => {
        listener.close(() => resolve());
        for (const c of connections) c.end();
      }),
  };
}

/** Accepts or rejects one authentication request; the id of the key that logged in, if one did. */
function authenticate(ctx: AuthContext, allowed: AuthorizedKeys | undefined): string | undefined {
  if (allowed === undefined) return void ctx.accept();
  if (ctx.method !== 'publickey') return void ctx.reject(['publickey']);
  const key = allowed.find(ctx.key.algo, ctx.key.data);
  if (!key) return void ctx.reject(['publickey']);
  // Without a signature the client only asks whether the key would do.
  if (ctx.signature === undefined || ctx.blob === undefined) return void ctx.accept();
  if (!key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) return void ctx.reject(['publickey']);
  ctx.accept();
  return keyId(ctx.key.algo, ctx.key.data);
}

async function realOrResolved(p: string): Promise<string> {
  try {
    return await fsp.realpath(p);
  } catch {
    return path.resolve(p);
  }
}
