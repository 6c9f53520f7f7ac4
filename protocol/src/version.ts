/**
 * Versions shared by every part of Telepath. The daemon refuses a client whose protocol major
 * differs from its own. In the cluster, which builds work together is decided by API levels, not
 * by product versions (docs/upgrades.md).
 */
export const PRODUCT_VERSION = '0.2.0';

/** JSON-RPC protocol version spoken between editors/CLI and the daemon (semver). */
export const PROTOCOL_VERSION = '0.1.3';

/**
 * The level of the traffic-manager's gRPC API (manager.proto, tunnel.proto) that this build
 * speaks, as daemon, manager and agent alike. Raise it with every change that a peer of the
 * previous level would not understand or would miss; raise MIN_API_LEVEL only when this build
 * drops what an older peer needs.
 *   1  0.1.x, which reported no level (0 on the wire)
 *   2  0.2.0: Version, ClientInfo and AgentInfo report their levels
 */
export const API_LEVEL = 2;
/** The oldest level this build still works with, whichever side it is on. */
export const MIN_API_LEVEL = 1;
/** What a peer that reports level 0 speaks: a build from before levels (0.1.x). */
export const LEGACY_API_LEVEL = 1;

/** The API levels one build works with: from `min` up to `level`. */
export interface ApiRange {
  level: number;
  min: number;
}

export const OWN_API: ApiRange = { level: API_LEVEL, min: MIN_API_LEVEL };

/** A peer's levels as the wire carries them; 0 (proto3's default) means an old build, level 1. */
export function apiRange(level: number | undefined, min: number | undefined): ApiRange {
  const l = level || LEGACY_API_LEVEL;
  return { level: l, min: Math.min(min || LEGACY_API_LEVEL, l) };
}

/**
 * The rule: two builds work together when each one's level is at least the other's minimum, that
 * is when their ranges overlap; they then speak the lower of the two levels.
 */
export function apiCompatible(a: ApiRange, b: ApiRange): boolean {
  return a.level >= b.min && b.level >= a.min;
}

/** "1-2" (min-level), as annotations carry a range. */
export function formatApiRange(r: ApiRange): string {
  return `${r.min}-${r.level}`;
}

/** The range of formatApiRange; a missing or unreadable one is an old build's (1-1). */
export function parseApiRange(text: string | undefined): ApiRange {
  const m = /^(\d+)-(\d+)$/.exec(text?.trim() ?? '');
  return m ? apiRange(Number(m[2]), Number(m[1])) : apiRange(0, 0);
}

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

/** Negative when a is older than b, 0 when the same release, positive when newer; undefined when either is no semver. */
export function compareSemver(a: string, b: string): number | undefined {
  const pa = parseSemver(a);
  const pb = parseSemver(b);
  if (!pa || !pb) return undefined;
  return pa.major - pb.major || pa.minor - pb.minor || pa.patch - pb.patch;
}
