/** An address with a prefix length, as `ip` takes it: `10.96.0.0/12`, `fd00:10:96::/112`. */
import { isIP } from 'node:net';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** Parses `address/prefix` (the prefix is required); throws a user-readable error otherwise. */
export function parseCidr(text: string): Cidr {
  const m = /^([0-9A-Fa-f.:]+)\/(\d{1,3})$/.exec(text);
  const family = m ? isIP(m[1]) : 0;
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || (family !== 4 && family !== 6) || prefix > (family === 4 ? 32 : 128)) {
    throw new Error(`"${text}" is not an address with a prefix length, like 10.96.0.0/12 or fd00::/64`);
  }
  return { address: m[1], prefix, family };
}

export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}
