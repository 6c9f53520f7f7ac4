import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { podCpuset } from './workloadNode.js';

test("a pod's cpuset cgroup is found under its QoS class's directory, and a missing one is named", () => {
  const root = mkdtempSync(path.join(tmpdir(), 'cpuset-'));
  try {
    mkdirSync(path.join(root, 'besteffort', 'podaaa'), { recursive: true });
    mkdirSync(path.join(root, 'burstable', 'podbbb'), { recursive: true });
    mkdirSync(path.join(root, 'podccc'), { recursive: true });
    assert.equal(podCpuset('aaa', root), path.join(root, 'besteffort', 'podaaa'));
    assert.equal(podCpuset('bbb', root), path.join(root, 'burstable', 'podbbb'));
    assert.equal(podCpuset('ccc', root), path.join(root, 'podccc'));
    assert.throws(() => podCpuset('ddd', root), /no cpuset cgroup for pod ddd/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
