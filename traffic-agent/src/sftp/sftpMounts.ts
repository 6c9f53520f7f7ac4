/**
 * The read-only volumes under the agent's mount root, from /proc/self/mountinfo. The agent cannot
 * read its own pod spec without RBAC rights it does not have, but the kernel knows how each volume
 * is mounted: `readOnly: true` mounts, and every ConfigMap, Secret, downwardAPI and projected
 * volume (the kubelet mounts those read-only whatever the pod says), carry the "ro" option.
 */

/**
 * Mount points at or under `root` that are mounted read-only. Where two mounts stack on one path,
 * the later (upper) one counts, as it hides the other. `mountinfo` is
 * the text of /proc/self/mountinfo (proc(5)): "36 35 98:0 /mnt1 /mnt/parent ro,noatime master:1 - ext3 /dev/root rw".
 */
export function readOnlyMountPoints(mountinfo: string, root: string): string[] {
  const base = root.length > 1 ? root.replace(/\/+$/, '') : root;
  const readOnly = new Map<string, boolean>();
  for (const line of mountinfo.split('\n')) {
    const fields = line.trim().split(' ');
    const dash = fields.indexOf('-');
    if (fields.length < 6 || dash < 6) continue;
    const mountPoint = unescapeOctal(fields[4]);
    const under = mountPoint === base || mountPoint.startsWith(base === '/' ? '/' : `${base}/`);
    if (!under) continue;
    const perMount = fields[5].split(',');
    const perSuper = (fields[dash + 3] ?? '').split(',');
    readOnly.delete(mountPoint);
    readOnly.set(mountPoint, perMount.includes('ro') || perSuper.includes('ro'));
  }
  return [...readOnly].filter(([, ro]) => ro).map(([p]) => p);
}

/** mountinfo escapes space, tab, newline and backslash as \040, \011, \012, \134. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
