/**
 * The daemon's logger: tagged (`rpc`, `session`, `tunnel`, `dns`, …), levelled, one line per
 * entry. Core code receives a Logger and never writes to the console.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LOG_LEVELS, type LogLevel } from '../../../protocol/src/daemon';

export type { LogLevel };

export interface Logger {
  error(msg: string, err?: unknown): void;
  warn(msg: string, err?: unknown): void;
  info(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
  /** A logger for a part of the program, sharing this one's sink and level. */
  child(tag: string): Logger;
}

export interface LogSink {
  level: LogLevel;
  write(line: string): void;
}

export function createLogger(sink: LogSink, tag = 'daemon', now: () => Date = () => new Date()): Logger {
  const enabled = (l: LogLevel) => LOG_LEVELS.indexOf(l) <= LOG_LEVELS.indexOf(sink.level);
  const emit = (l: LogLevel, msg: string, err?: unknown) => {
    if (!enabled(l)) return;
    let line = `${now().toISOString()} ${l.toUpperCase().padEnd(5)} ${tag}: ${msg}`;
    if (err !== undefined) line += `: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    sink.write(line + '\n');
  };
  return {
    error: (m, e) => emit('error', m, e),
    warn: (m, e) => emit('warn', m, e),
    info: (m) => emit('info', m),
    debug: (m) => emit('debug', m),
    trace: (m) => emit('trace', m),
    child: (t) => createLogger(sink, `${tag}.${t}`, now),
  };
}

/** A sink that appends to a file and keeps one rotated predecessor (`.1`) past maxBytes. */
export class RotatingFileSink implements LogSink {
  private fd: number;
  private size: number;

  constructor(
    private readonly file: string,
    public level: LogLevel = 'info',
    private readonly maxBytes = 10 * 1024 * 1024,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.fd = fs.openSync(file, 'a', 0o600);
    this.size = fs.fstatSync(this.fd).size;
  }

  write(line: string): void {
    if (this.size + line.length > this.maxBytes) this.rotate();
    // Synchronous on purpose: the last lines before a crash are the ones that matter.
    this.size += fs.writeSync(this.fd, line);
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private rotate(): void {
    fs.closeSync(this.fd);
    fs.renameSync(this.file, `${this.file}.1`);
    this.fd = fs.openSync(this.file, 'a', 0o600);
    this.size = 0;
  }
}

/** Discards everything; for code paths and tests that need a Logger and no output. */
export const silentLogger: Logger = {
  error: () => {},
  warn: () => {},
  info: () => {},
  debug: () => {},
  trace: () => {},
  child: () => silentLogger,
};
