/**
 * The intercepted container's environment as a file (`--env-file`). Keys are sorted in every
 * syntax, so the same environment always gives the same file.
 *
 * - `dotenv` follows the `dotenv` npm package (v15+ parser), which most language ports copy:
 *   a value is written bare when that reads back unchanged; otherwise in single quotes (taken
 *   literally, may span lines); a value with a carriage return — which the parser turns into a
 *   newline inside quotes — or, like the dotenv docs, one with newlines, in double quotes with
 *   `\n`/`\r` escapes (the only escapes dotenv knows, so only when the value holds no `"` and no
 *   literal `\n`/`\r`); backquotes as the last resort. `$` is quoted too, because dotenv-expand
 *   and docker compose expand it in bare values but not in single-quoted ones. `docker run
 *   --env-file` knows no quoting at all: it reads bare values the same, quoted ones with the quotes.
 *   A key dotenv cannot parse (outside `[A-Za-z0-9_.-]`) or a value no quoting can carry (one
 *   with all three quote characters, or that needs quotes and ends in a backslash) is left out
 *   with a comment saying so.
 * - `sh` is `export KEY='value'` for `. file` in any POSIX shell; keys that are not shell names
 *   are left out with a comment.
 * - `json` is an object, pretty-printed.
 */

export type EnvSyntax = 'dotenv' | 'sh' | 'json';
export const ENV_SYNTAXES: readonly EnvSyntax[] = ['dotenv', 'sh', 'json'];

export function formatEnv(env: Record<string, string>, syntax: EnvSyntax): string {
  const keys = Object.keys(env).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  switch (syntax) {
    case 'json':
      return JSON.stringify(Object.fromEntries(keys.map((k) => [k, env[k]])), null, 2) + '\n';
    case 'sh':
      return keys.map((k) => shLine(k, env[k]) + '\n').join('');
    case 'dotenv':
      return keys.map((k) => dotenvLine(k, env[k]) + '\n').join('');
  }
}

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function shLine(key: string, value: string): string {
  if (!SHELL_NAME.test(key)) return `# ${quoteKey(key)} left out: not a valid shell variable name`;
  return `export ${key}='${value.replace(/'/g, `'\\''`)}'`;
}

const DOTENV_KEY = /^[\w.-]+$/;

function dotenvLine(key: string, value: string): string {
  if (!DOTENV_KEY.test(key)) return `# ${quoteKey(key)} left out: dotenv keys are letters, digits, "_", "." and "-"`;
  const quoted = dotenvValue(value);
  if (quoted === undefined) return `# ${key} left out: dotenv has no quoting for its value`;
  return `${key}=${quoted}`;
}

function dotenvValue(value: string): string | undefined {
  // Bare values are trimmed, end at "#" and a line break, and lose a pair of surrounding quotes.
  const bare = !/^\s|\s$|[#'"`$\u2028\u2029]|\p{Cc}/u.test(value);
  if (bare) return value;
  // dotenv reads backslash-quote as part of a quoted value, so a quoted value that ends in a
  // backslash may run on to a later line's quote.
  if (value.endsWith('\\')) return undefined;
  const multiLine = /[\n\r]/.test(value);
  const doubleQuotable = !value.includes('"') && !/\\[nr]/.test(value);
  if (/\r/.test(value)) return doubleQuotable ? `"${escapeLineBreaks(value)}"` : undefined;
  if (multiLine && doubleQuotable) return `"${escapeLineBreaks(value)}"`;
  if (!value.includes("'")) return `'${value}'`;
  if (!multiLine && doubleQuotable) return `"${value}"`;
  if (!value.includes('`')) return `\`${value}\``;
  return undefined;
}

/** A key in a comment: JSON-quoted, with the line separators JSON leaves alone escaped too. */
function quoteKey(key: string): string {
  return JSON.stringify(key).replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function escapeLineBreaks(value: string): string {
  return value.replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}
