/**
 * What the extension-host suite (index.ts, inside VS Code) and its driver
 * (test/e2e/extensionHost.test.ts, outside) agree on: the files and how results are reported.
 */

/** The test files, in the order they run: they share one window, one daemon, one connection. */
export const SUITE_FILES = ['activation', 'connection', 'clusterTree', 'debugging', 'daemonRestart', 'disconnect', 'terminal'];

/** Each result is logged to the console as one line: this prefix, then an ExthostEvent as JSON. */
export const EVENT_PREFIX = 'telepath-exthost ';

export interface ExthostEvent {
  /** "Describe title test title", as mocha's fullTitle(). */
  title: string;
  state: 'passed' | 'failed' | 'pending';
  durationMs?: number;
  /** The failure's message and stack. */
  error?: string;
}

export function formatEvent(e: ExthostEvent): string {
  return EVENT_PREFIX + JSON.stringify(e);
}

/** The event a console line carries, if it is one. */
export function parseEvent(line: string): ExthostEvent | undefined {
  if (!line.startsWith(EVENT_PREFIX)) return undefined;
  try {
    const e = JSON.parse(line.slice(EVENT_PREFIX.length)) as ExthostEvent;
    return typeof e.title === 'string' && ['passed', 'failed', 'pending'].includes(e.state) ? e : undefined;
  } catch {
    return undefined;
  }
}
