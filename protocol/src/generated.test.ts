/**
 * The generated code in the tree is what scripts/genProto.sh makes from the .proto files now:
 * regenerate into a temporary folder and compare file by file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const protoc = process.env.PROTOC ?? 'protoc';
const haveProtoc = spawnSync(protoc, ['--version']).status === 0;

/** Relative paths of every file under dir, sorted. */
function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

test(
  'protocol/src/gen and protocol/daemonApi.openrpc.json are current (else run scripts/genProto.sh)',
  { skip: haveProtoc ? false : `${protoc} not found: cannot regenerate to compare` },
  () => {
    const out = mkdtempSync(path.join(tmpdir(), 'telepath-gen-'));
    try {
      const r = spawnSync('bash', [path.join(root, 'scripts/genProto.sh'), '--out', out], {
        cwd: root,
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, `genProto.sh failed:\n${r.stderr}`);
      const fresh = path.join(out, 'protocol/src/gen');
      const committed = path.join(root, 'protocol/src/gen');
      assert.deepEqual(files(committed), files(fresh), 'generated files were added or removed');
      for (const f of files(fresh)) {
        assert.equal(
          readFileSync(path.join(committed, f), 'utf8'),
          readFileSync(path.join(fresh, f), 'utf8'),
          `${f} is stale`,
        );
      }
      const doc = 'protocol/daemonApi.openrpc.json';
      assert.equal(
        readFileSync(path.join(root, doc), 'utf8'),
        readFileSync(path.join(out, doc), 'utf8'),
        `${doc} is stale`,
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
);
