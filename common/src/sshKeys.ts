/**
 * ed25519 key pairs in OpenSSH format, from ssh2's generator with its known defect worked around:
 * it strips leading zero bytes from the public key, so about one key in 256 comes out 31 bytes
 * long and no SSH implementation accepts it (mscdex/ssh2#1390, #1513). Such a pair is thrown away.
 */
import { type ParsedKey, utils } from 'ssh2';

/** A broken pair is about 1/256 likely; sixteen in a row never happen. */
const ATTEMPTS = 16;

export function generateEd25519KeyPair(): utils.KeyPairReturn {
  for (let i = 0; i < ATTEMPTS; i++) {
    const pair = utils.generateKeyPairSync('ed25519');
    if (usable(pair.private) && usable(pair.public)) return pair;
  }
  throw new Error(`no usable ed25519 key in ${ATTEMPTS} attempts`);
}

/** One key from OpenSSH text; throws with `what` in the message when it is not one. */
export function parseSshKey(text: string, what: string): ParsedKey {
  // For OpenSSH private key files parseKey answers a list (such a file may hold several keys),
  // which its typings leave out.
  const parsed: ParsedKey | ParsedKey[] | Error = utils.parseKey(text);
  if (parsed instanceof Error) throw new Error(`${what} is not a usable SSH key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined) throw new Error(`${what} holds no key`);
  return key;
}

function usable(text: string): boolean {
  try {
    return parseSshKey(text, 'key').type === 'ssh-ed25519';
  } catch {
    return false;
  }
}
