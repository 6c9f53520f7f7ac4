import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateEd25519KeyPair, parseSshKey } from './sshKeys.js';

test('every generated pair parses, public and private, with a 32-byte key (ssh2 alone fails about 1 in 256)', () => {
  for (let i = 0; i < 1000; i++) {
    const pair = generateEd25519KeyPair();
    const pub = parseSshKey(pair.public, 'public');
    const priv = parseSshKey(pair.private, 'private');
    // "ssh-ed25519" as an SSH string, then the key as one: 4 + 11 + 4 + 32.
    assert.equal(pub.getPublicSSH().length, 51);
    assert.ok(priv.isPrivateKey() && pub.equals(priv.getPublicSSH()));
  }
});

test('parseSshKey names what was wrong', () => {
  assert.throws(() => parseSshKey('ssh-ed25519 AAAA', 'authorizedKey'), /^Error: authorizedKey is not a usable SSH key/);
});
