/**
 * The manager's logger: tagged (`rpc`, `tunnel`, `dns`, `cluster`, …), levelled, one JSON object
 * per line on stderr so that `kubectl logs` stays readable and log collectors can parse it.
 * Library code receives a Logger; only main.ts decides where lines go.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger whose lines carry `tag` (nested tags are joined with '/'). */
  child(tag: string): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function parseLogLevel(text: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  const t = text?.trim().toLowerCase();
  if (t === 'trace') return 'debug';
  if (t === 'warning') return 'warn';
  return t === 'debug' || t === 'info' || t === 'warn' || t === 'error' ? t : fallback;
}

export interface JsonLoggerOptions {
  level: LogLevel;
  write: (line: string) => void;
  now?: () => Date;
}

/** Writes `{"time","level","tag","msg",…fields}` lines. */
export function jsonLogger(options: JsonLoggerOptions, tag = ''): Logger {
  const now = options.now ?? (() => new Date());
  const emit = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (RANK[level] < RANK[options.level]) return;
    const line: LogFields = { time: now().toISOString(), level };
    if (tag) line.tag = tag;
    line.msg = message;
    if (fields) for (const [k, v] of Object.entries(fields)) line[k] = v instanceof Error ? v.message : v;
    options.write(`${safeJson(line)}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (t) => jsonLogger(options, tag ? `${tag}/${t}` : t),
  };
}

/** Discards everything; for tests that do not look at logs. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

function safeJson(value: LogFields): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    return JSON.stringify({ time: value.time, level: value.level, tag: value.tag, msg: value.msg });
  }
}
