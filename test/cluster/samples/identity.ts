import * as fs from 'node:fs';
import * as os from 'node:os';

/** Who answered: the fields every sample server puts in its replies. */
export interface Identity {
  pod: string;
  greeting: string;
  secret: string;
  config: string;
}

export const DEFAULT_CONFIG_FILE = '/etc/sample/config.txt';

/**
 * Reads the identity once at start. A missing config file is an empty string, not a crash: the
 * same image runs in pods with and without the ConfigMap volume.
 */
export function readIdentity(
  env: NodeJS.ProcessEnv = process.env,
  readFile: (path: string) => string = (p) => fs.readFileSync(p, 'utf8'),
  hostname: () => string = os.hostname,
): Identity {
  return {
    pod: env.POD_NAME || hostname(),
    greeting: env.SAMPLE_GREETING ?? '',
    secret: env.SAMPLE_SECRET ?? '',
    config: firstLine(env.SAMPLE_CONFIG_FILE || DEFAULT_CONFIG_FILE, readFile),
  };
}

function firstLine(path: string, readFile: (path: string) => string): string {
  let text: string;
  try {
    text = readFile(path);
  } catch {
    return '';
  }
  return text.split('\n', 1)[0].replace(/\r$/, '');
}
