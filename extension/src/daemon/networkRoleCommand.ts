/**
 * The command that gives the workstation outbound cluster access: `telepath network-role` under
 * sudo, with the Node and the CLI bundle that ship with the extension. It starts a root process
 * that serves the user's daemon (which the extension started) and picks up the running session by
 * itself; it needs no kubeconfig, so no -E. Shell-quoted, for a terminal or the clipboard.
 */
export interface NetworkRoleCommandInput {
  execPath: string;
  cliPath: string;
  /** VS Code's Electron needs ELECTRON_RUN_AS_NODE to act as Node; plain Node does not. */
  electron: boolean;
}

export function networkRoleCommand(i: NetworkRoleCommandInput): string {
  const words = ['sudo'];
  if (i.electron) words.push('env', 'ELECTRON_RUN_AS_NODE=1');
  words.push(i.execPath, '--', i.cliPath, 'network-role');
  return words.map(shellQuote).join(' ');
}

export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
