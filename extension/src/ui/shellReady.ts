/** Waiting for a new terminal's shell before typing into it. */
import * as vscode from 'vscode';

/**
 * What became of a new terminal's shell: it reported its prompt through VS Code's shell
 * integration, it said nothing within the wait (integration off, or a shell VS Code cannot
 * integrate), or the terminal closed (its shell failed to start).
 */
export type ShellReadiness = { state: 'ready' } | { state: 'unknown' } | { state: 'closed'; exitCode: number | undefined };

/** How long a shell that never reports (no shell integration) gets before text is typed anyway. */
export const SHELL_REPORT_WAIT_MS = 5_000;

/**
 * Resolves once `terminal`'s shell has reported through shell integration, which it does as it
 * draws its first prompt. Text sent before that reaches the terminal ahead of the prompt: the
 * terminal echoes it, the shell then draws its prompt after it and redraws the line it read from
 * wrong columns, and a long command shows garbled (seen in CI, where bash started slowly).
 */
export function whenShellReady(terminal: vscode.Terminal, waitMs = SHELL_REPORT_WAIT_MS): Promise<ShellReadiness> {
  if (terminal.exitStatus) return Promise.resolve({ state: 'closed', exitCode: terminal.exitStatus.code });
  if (terminal.shellIntegration) return Promise.resolve({ state: 'ready' });
  return new Promise((resolve) => {
    const subscriptions: vscode.Disposable[] = [];
    const done = (r: ShellReadiness): void => {
      clearTimeout(timer);
      for (const s of subscriptions) s.dispose();
      resolve(r);
    };
    const timer = setTimeout(() => done({ state: 'unknown' }), waitMs);
    subscriptions.push(
      vscode.window.onDidChangeTerminalShellIntegration((e) => {
        if (e.terminal === terminal) done({ state: 'ready' });
      }),
      vscode.window.onDidCloseTerminal((t) => {
        if (t === terminal) done({ state: 'closed', exitCode: t.exitStatus?.code });
      }),
    );
  });
}
