import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveKubeconfig } from './settings.js';

describe('the kubeconfig passed to the daemon', () => {
  test('the setting, with ~ and ${workspaceFolder}', () => {
    assert.equal(resolveKubeconfig('~/k/config', {}, undefined, '/home/a'), '/home/a/k/config');
    assert.equal(resolveKubeconfig('${workspaceFolder}/.cluster/kubeconfig', {}, '/src/app', '/home/a'), '/src/app/.cluster/kubeconfig');
    assert.equal(resolveKubeconfig('.cluster/kubeconfig', {}, '/src/app', '/home/a'), '/src/app/.cluster/kubeconfig');
  });

  test('else the first file of KUBECONFIG, else the daemon\'s default', () => {
    assert.equal(resolveKubeconfig('', { KUBECONFIG: '/a/one:/b/two' }), '/a/one');
    assert.equal(resolveKubeconfig('', { KUBECONFIG: ':/b/two' }), '/b/two');
    assert.equal(resolveKubeconfig('', {}), undefined);
  });
});
