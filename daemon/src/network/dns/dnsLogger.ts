/**
 * The logger the DNS code writes to (the daemon injects one tagged `dns`). Fields are structured
 * context; a logger that only takes the message may ignore them.
 */
export type LogFields = Record<string, unknown>;

export interface DnsLogger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
}

export const silentDnsLogger: DnsLogger = { debug: () => {}, info: () => {}, warn: () => {} };

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
