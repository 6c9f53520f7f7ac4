/**
 * IP addresses and subnets as the gRPC messages carry them: 4 or 16 raw bytes in network order,
 * the form the packet code reads off the TUN device. These helpers convert to and from the text
 * form that Node's sockets, logs and the JSON-RPC API use.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface SubnetBytes {
  ip: Uint8Array;
  prefixLength: number;
}

/** Parses an IPv4 or IPv6 address ("10.0.0.1", "fd00::1", "::ffff:10.0.0.1"). */
export function ipToBytes(text: string): Uint8Array {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text)) throw new TypeError(`not an IP address: ${JSON.stringify(text)}`);
  const out = new Uint8Array(16);
  let body = text;
  // A trailing dotted quad fills the last 32 bits (IPv4-mapped and -compatible forms).
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (v4?.[1] !== undefined) {
    out.set(ipToBytes(v4[1]), 12);
    body = body.slice(0, -v4[1].length) + '0:0';
  }
  const [head = '', tail] = body.split('::');
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  all.forEach((g, i) => {
    // The dotted quad was already written; its placeholder groups are zero.
    if (i >= 6 && v4) return;
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Formats 4 or 16 bytes; IPv6 in the RFC 5952 canonical form (lower case, longest zero run as ::). */
export function ipFromBytes(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new TypeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // Longest run of at least two zero groups; the first one wins a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** Parses "10.96.0.0/12" or "fd00:10:96::/112"; host bits must be zero. */
export function subnetFromCidr(cidr: string): SubnetBytes {
  const slash = cidr.lastIndexOf('/');
  if (slash < 0) throw new TypeError(`not a CIDR subnet: ${JSON.stringify(cidr)}`);
  const ip = ipToBytes(cidr.slice(0, slash));
  const prefixText = cidr.slice(slash + 1);
  const prefixLength = Number(prefixText);
  if (!/^\d+$/.test(prefixText) || prefixLength > ip.length * 8) {
    throw new TypeError(`bad prefix length in ${JSON.stringify(cidr)}`);
  }
  if (!hostBitsZero(ip, prefixLength)) throw new TypeError(`${cidr} has host bits set`);
  return { ip, prefixLength };
}

export function subnetToCidr(subnet: SubnetBytes): string {
  return `${ipFromBytes(subnet.ip)}/${subnet.prefixLength}`;
}

/** Whether every bit after the first `prefixLength` is zero (an address that starts its subnet). */
export function hostBitsZero(ip: Uint8Array, prefixLength: number): boolean {
  for (let bit = prefixLength; bit < ip.length * 8; bit++) {
    if (((ip[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

/** Whether two addresses of the same length agree in their first `bits` bits. */
export function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((a[i] ?? 0) & mask) !== ((b[i] ?? 0) & mask)) return false;
  }
  return true;
}

/** Whether `ip` (of the subnet's family) lies in `subnet`. */
export function subnetContains(subnet: SubnetBytes, ip: Uint8Array): boolean {
  return subnet.ip.length === ip.length && samePrefix(subnet.ip, ip, subnet.prefixLength);
}
