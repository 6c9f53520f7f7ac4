/** Waiting for a new terminal's shell before typing into it. */
import * as vscode from 'vscode';

/**
 * What became of a new terminal's shell: it is about to draw its first prompt (reported through
 * VS Code's shell integration), it said nothing of the kind within the wait (integration off, or a
 * shell VS Code cannot integrate), or the terminal closed (its shell failed to start).
 */
export type ShellReadiness = { state: 'ready' } | { state: 'unknown' } | { state: 'closed'; exitCode: number | undefined };

/** How long a shell that never reports its prompt (no shell integration) gets before text is typed anyway. */
export const SHELL_REPORT_WAIT_MS = 5_000;

/**
 * Resolves once `terminal`'s shell is about to draw its first prompt. Text sent before that reaches
 * the terminal ahead of the prompt: the terminal echoes it, the shell then draws its prompt after
 * it and redraws the line it read from the wrong column, and a long command shows garbled (seen in
 * CI, where bash started slowly). Shell integration itself is no sign: VS Code's bash script
 * reports it as the script is read, before the rest of the shell's start-up files. The working
 * directory is: the script reports it just before each prompt, the first one included.
 */
export function whenShellReady(terminal: vscode.Terminal, waitMs = SHELL_REPORT_WAIT_MS): Promise<ShellReadiness> {
  const atPrompt = (): boolean => terminal.shellIntegration?.cwd !== undefined;
  if (terminal.exitStatus) return Promise.resolve({ state: 'closed', exitCode: terminal.exitStatus.code });
  if (atPrompt()) return Promise.resolve({ state: 'ready' });
  return new Promise((resolve) => {
    const subscriptions: vscode.Disposable[] = [];
    const done = (r: ShellReadiness): void => {
      clearTimeout(timer);
      for (const s of subscriptions) s.dispose();
      resolve(r);
    };
    const timer = setTimeout(() => done({ state: 'unknown' }), waitMs);
    subscriptions.push(
      // Fires as integration starts and as any of its properties changes, the directory included.
      vscode.window.onDidChangeTerminalShellIntegration((e) => {
        if (e.terminal === terminal && atPrompt()) done({ state: 'ready' });
      }),
      vscode.window.onDidCloseTerminal((t) => {
        if (t === terminal) done({ state: 'closed', exitCode: t.exitStatus?.code });
      }),
    );
  });
}
