/**
 * Versions shared by every part of Telepath. The daemon refuses a client whose protocol major
 * differs from its own, and installs in-cluster parts of exactly its own product version.
 */
export const PRODUCT_VERSION = '0.1.0';

/** JSON-RPC protocol version spoken between editors/CLI and the daemon (semver). */
export const PROTOCOL_VERSION = '0.1.2';

/** True when two protocol versions can talk: same major, and for 0.x the same minor. */
export function protocolCompatible(a: string, b: string): boolean {
  const pa = parseSemver(a);
  const pb = parseSemver(b);
  if (!pa || !pb) return false;
  if (pa.major !== pb.major) return false;
  return pa.major !== 0 || pa.minor === pb.minor;
}

interface Semver {
  major: number;
  minor: number;
  patch: number;
}

export function parseSemver(v: string): Semver | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(v.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}
