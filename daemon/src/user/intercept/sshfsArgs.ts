/**
 * The sshfs command line that mounts the agent's SFTP server on the workstation, through a local
 * port that forwards to the agent's loopback port. It lives next to the server because each
 * option answers something the server does or lacks; the daemon runs it (tested against sshfs
 * 3.7 with libfuse 3.14 in sshfs.test.ts).
 */

export interface SshfsOptions {
  /** The local end of the port-forward to the agent's SFTP port. */
  port: number;
  /** An empty directory owned by the user. */
  mountPoint: string;
  /** A private key file (mode 0600) whose public key the agent was given as authorizedKey. */
  identityFile?: string;
  /** Further `-o` options (e.g. "uid=1000,gid=1000"). */
  extra?: string[];
}

export function sshfsArgs(options: SshfsOptions): string[] {
  const ssh = [
    `port=${options.port}`,
    // The agent makes a new host key at every start, and only a port-forward that the API
    // server authorized reaches it: there is no host identity to pin.
    'StrictHostKeyChecking=no',
    'UserKnownHostsFile=/dev/null',
    'GlobalKnownHostsFile=/dev/null',
    // Never a prompt: the daemon has no terminal.
    'BatchMode=yes',
    'LogLevel=ERROR',
    'ConnectTimeout=10',
    // A port-forward that died without a reset is noticed within 15 s, and then "reconnect"
    // starts ssh again on the same local port (the daemon must re-create the forward there).
    'ServerAliveInterval=5',
    'ServerAliveCountMax=3',
    // The agent offers AES only (sftpServer.ts); GCM needs no separate MAC.
    'Ciphers=aes128-gcm@openssh.com',
    // Keys from the user's ssh-agent are no use here, and enough of them end in "too many
    // authentication failures" before the right one is offered.
    'IdentitiesOnly=yes',
  ];
  if (options.identityFile !== undefined) ssh.push(`IdentityFile=${escapeOption(options.identityFile)}`);
  const fs = [
    'reconnect',
    // Links are followed by the server, which keeps every target inside the volumes (an absolute
    // target is taken from the volumes' root, as the app sees it). Followed on the workstation
    // instead, a link written in the pod could point at the developer's own files; and newer
    // sshfs (contain_symlinks, on by default since 3.7.6) refuses every absolute or ".." link.
    'follow_symlinks',
    // sshfs caches names and attributes for 20 s by default: a file made in the pod would stay
    // invisible that long. At 1 s, `ls -l` still gets its attributes from the directory listing
    // in one round trip, and what the pod changes shows within about a second. File contents
    // are read afresh at every open regardless (no kernel_cache).
    'dcache_timeout=1',
    // sshfs refreshes a file's attributes when it is opened, but the kernel keeps its own copy
    // for attr_timeout (1 s): a program that reads as many bytes as fstat says (Node's readFile)
    // would get a file the pod just grew cut at its old size. Asking sshfs every time costs no
    // round trip to the pod, only one to the local sshfs process.
    'attr_timeout=0',
    // sshfs asks for 32 KiB per read, the least the SFTP spec lets a server allow; the agent
    // allows 255 KiB (as OpenSSH's sftp-server). 64 KiB halves the requests, and reading a file
    // went from 74-84 to 87-93 MB/s (docs/benchmarks.md); 128 KiB did no better.
    'max_read=65536',
  ];
  return [
    // The user's ~/.ssh/config must not add a ProxyCommand, a User or a ControlMaster.
    '-F',
    '/dev/null',
    '-o',
    [...ssh, ...fs, ...(options.extra ?? [])].join(','),
    // Any user name will do: the agent ignores it.
    'telepath@127.0.0.1:/',
    options.mountPoint,
  ];
}

/** libfuse splits -o at commas; a backslash keeps one (and itself) in a value. */
function escapeOption(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/,/g, '\\,');
}
