/**
 * The command that gives the workstation outbound cluster access: the daemon's network role needs
 * root, so the user runs `telepath connect` under sudo, with the Node and the CLI bundle that ship
 * with the extension. Shell-quoted, for a terminal or the clipboard.
 */
export interface NetworkRoleCommandInput {
  execPath: string;
  cliPath: string;
  /** VS Code's Electron needs ELECTRON_RUN_AS_NODE to act as Node; plain Node does not. */
  electron: boolean;
  context?: string;
  namespace?: string;
  kubeconfig?: string;
}

export function networkRoleCommand(i: NetworkRoleCommandInput): string {
  const words = ['sudo', '-E'];
  if (i.electron) words.push('env', 'ELECTRON_RUN_AS_NODE=1');
  words.push(i.execPath, '--', i.cliPath, 'connect');
  if (i.context) words.push('--context', i.context);
  if (i.namespace) words.push('--namespace', i.namespace);
  if (i.kubeconfig) words.push('--kubeconfig', i.kubeconfig);
  return words.map(shellQuote).join(' ');
}

export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
