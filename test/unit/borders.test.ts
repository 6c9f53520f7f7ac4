/**
 * The parts meet only through protocol/ and common/, the user role of the daemon may use the
 * network role but not the reverse, and the CLI and the root process load only what they need
 * (scripts/borders.mjs holds the arrows). Checked on the real tree, and on a small made-up tree
 * where each rule is broken once, so the check is seen to fail.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error: a plain ES module without types (it runs under npm run lint without a build)
import { checkBorders, importsOf } from '../../scripts/borders.mjs';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const check = checkBorders as (root: string) => string[];

test('no import in the tree crosses a border', () => {
  assert.deepEqual(check(repoRoot), []);
});

test('imports are found in every form, type-only ones marked', () => {
  const found = (importsOf as (s: string) => { spec: string; typeOnly: boolean }[])(`
    import a from './a.js';
    import {
      b,
      c,
    } from "../b.js";
    import type { T } from './t.js';
    export { d } from './d.js';
    export * from './e.js';
    import './side.js';
    const f = await import('./f.js');
    // import { no } from './comment.js';
    /* import { no } from './block.js'; */
    const s = "not an import from './string.js'";
  `);
  assert.deepEqual(found, [
    { spec: './a.js', typeOnly: false },
    { spec: '../b.js', typeOnly: false },
    { spec: './t.js', typeOnly: true },
    { spec: './d.js', typeOnly: false },
    { spec: './e.js', typeOnly: false },
    { spec: './side.js', typeOnly: false },
    { spec: './f.js', typeOnly: false },
  ]);
});

test('each kind of crossing is reported', (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'telepath-borders-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const put = (file: string, text: string) => {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  };
  put('protocol/src/version.ts', 'export const V = 1;\n');
  put('common/src/log.ts', "import { V } from '../../protocol/src/version.js';\nexport const L = V;\n");
  put('traffic-manager/src/logger.ts', 'export const M = 1;\n');
  put('traffic-agent/src/main.ts', "import { M } from '../../traffic-manager/src/logger.js';\nimport { L } from '../../common/src/log.js';\nexport default [M, L];\n");
  put('daemon/src/user/session.ts', "import { Api } from '@kubernetes/client-node';\nexport const S = Api;\n");
  put('daemon/src/network/role.ts', "import { S } from '../user/session.js';\nexport const R = S;\n");
  put('daemon/src/network/networkBin.ts', "import { R } from './role.js';\nconsole.log(R);\n");
  put('daemon/src/user/cli/bin.ts', "import type { S } from '../session.js';\nimport { credentials } from '@grpc/grpc-js';\nexport type X = typeof S;\nconsole.log(credentials);\n");
  put('extension/src/extension.ts', "import { daemonPaths } from '../../daemon/src/user/paths.js';\nexport default daemonPaths;\n");
  put('common/src/bad.ts', "import { M } from '../../traffic-manager/src/logger.js';\nexport default M;\n");

  const problems = check(root).sort();
  const expect = [
    /^common\/src\/bad\.ts: imports traffic-manager\/src\/logger\.ts/,
    /^daemon\/src\/network\/networkBin\.ts: loads @kubernetes\/client-node through daemon\/src\/network\/networkBin\.ts -> daemon\/src\/network\/role\.ts -> daemon\/src\/user\/session\.ts/,
    /^daemon\/src\/network\/role\.ts: imports daemon\/src\/user\/session\.ts/,
    /^daemon\/src\/user\/cli\/bin\.ts: loads @grpc\/grpc-js/,
    /^extension\/src\/extension\.ts: imports daemon\/src\/user\/paths\.js/,
    /^traffic-agent\/src\/main\.ts: imports traffic-manager\/src\/logger\.ts/,
  ];
  assert.equal(problems.length, expect.length, problems.join('\n'));
  expect.forEach((re, i) => assert.match(problems[i]!, re));
});
