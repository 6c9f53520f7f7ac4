import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readOnlyMountPoints } from './sftpMounts.js';

// Shaped after an agent container's /proc/self/mountinfo on containerd (trimmed).
const MOUNTINFO = [
  '1432 1366 0:190 / / ro,relatime master:444 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w',
  '1433 1432 0:193 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw',
  '1440 1432 254:1 /var/lib/kubelet/pods/p/volumes/kubernetes.io~configmap/telepath-agent-bundle /telepath-agent ro,relatime - ext4 /dev/vda1 rw',
  '1441 1432 0:180 / /telepath-agent-mounts/etc/sample ro,relatime - tmpfs tmpfs rw,size=65536k',
  '1442 1432 254:1 /var/lib/kubelet/pods/p/volumes/kubernetes.io~empty-dir/cache /telepath-agent-mounts/var/cache rw,relatime - ext4 /dev/vda1 rw',
  '1443 1432 254:1 /var/lib/kubelet/pods/p/volumes/kubernetes.io~configmap/cfg/..2026/app.yaml /telepath-agent-mounts/etc/app.yaml ro,relatime - ext4 /dev/vda1 rw',
  '1444 1432 0:181 / /telepath-agent-mounts/my\\040data rw,relatime - nfs server:/export ro,vers=4.1',
  '1445 1432 0:182 / /telepath-agent-mounts/stacked ro,relatime - tmpfs tmpfs rw',
  '1446 1445 0:183 / /telepath-agent-mounts/stacked rw,relatime - tmpfs tmpfs rw',
  '1447 1432 0:184 / /telepath-agent-mountsX ro,relatime - tmpfs tmpfs rw',
  '',
].join('\n');

test('read-only mounts under the root: per-mount or per-superblock "ro"; escapes decoded; the upper of stacked mounts wins', () => {
  assert.deepEqual(readOnlyMountPoints(MOUNTINFO, '/telepath-agent-mounts'), [
    '/telepath-agent-mounts/etc/sample',
    '/telepath-agent-mounts/etc/app.yaml',
    '/telepath-agent-mounts/my data',
  ]);
  assert.deepEqual(readOnlyMountPoints(MOUNTINFO, '/telepath-agent-mounts/'), readOnlyMountPoints(MOUNTINFO, '/telepath-agent-mounts'));
});

test('lines that are not mountinfo are skipped', () => {
  assert.deepEqual(readOnlyMountPoints('garbage\n1 2 3\n', '/'), []);
});
