#!/usr/bin/env node
// Runs Telepath's tests in phases and closes with one line "N passed, N failed, N skipped".
//   node test/run.mjs unit         pure code: no root, no cluster, seconds
//   node test/run.mjs integration  against the local cluster (root; brings it up if needed)
//   node test/run.mjs e2e          the extension in a real VS Code (code-server), test/e2e/
//   node test/run.mjs all          unit, integration, e2e, then the cluster teardown check
// Extra arguments after the phase are passed to node --test (e.g. --test-name-pattern=...).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const [phase = 'unit', ...extra] = process.argv.slice(2);

/** Every *.test.ts under the given folders (relative to the repo root), sorted. */
function findTests(dirs, skip = []) {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (name === 'node_modules' || skip.includes(path.relative(root, full))) continue;
      if (statSync(full).isDirectory()) walk(full);
      else if (name.endsWith('.test.ts')) out.push(path.relative(root, full));
    }
  };
  for (const d of dirs) {
    try {
      walk(path.join(root, d));
    } catch (e) {
      if (e.code !== 'ENOENT') throw e;
    }
  }
  return out.sort();
}

const unitDirs = ['protocol', 'common', 'daemon', 'traffic-manager', 'traffic-agent', 'extension', 'test/cluster', 'test/bench', 'test/unit'];
const totals = { passed: 0, failed: 0, skipped: 0 };
let failedPhase = false;

function runPhase(name, files, opts = []) {
  if (files.length === 0) {
    console.log(`\n== ${name}: no test files`);
    return;
  }
  console.log(`\n== ${name}: ${files.length} file(s)`);
  const r = spawnSync(
    process.execPath,
    [
      // A test file whose handles outlive its tests must not hang the run: exit when its tests
      // are done; and no single test may take forever.
      '--import', 'tsx', '--test', '--test-force-exit', ...opts,
      '--test-reporter=spec', ...extra, ...files,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  process.stdout.write(r.stdout ?? '');
  // The spec reporter closes with "ℹ pass N", "ℹ fail N", "ℹ skipped N" (and todo, cancelled).
  const count = (label) => Number(new RegExp(`^ℹ ${label} (\\d+)$`, 'm').exec(r.stdout ?? '')?.[1] ?? NaN);
  const [pass, fail, skipped, cancelled] = ['pass', 'fail', 'skipped', 'cancelled'].map(count);
  if ([pass, fail, skipped, cancelled].some(Number.isNaN)) {
    totals.failed += 1; // the runner died before it could report
  } else {
    totals.passed += pass;
    totals.failed += fail + cancelled;
    totals.skipped += skipped;
  }
  if (r.status !== 0) failedPhase = true;
}

if (phase === 'unit' || phase === 'all') runPhase('unit', findTests(unitDirs), ['--test-timeout=120000']);
const teardown = 'test/integration/teardown.test.ts';
if (phase === 'integration' || phase === 'all') {
  // One file at a time: they share one cluster. teardown runs last, on its own.
  runPhase('integration', findTests(['test/integration'], [teardown]), ['--test-concurrency=1', '--test-timeout=900000']);
}
// The extension in a real VS Code (code-server + headless Chromium); needs `npm run build` and
// scripts/installCodeServer.sh (run by test/cluster/prepare). Before teardown: UI tests use the cluster.
if (phase === 'e2e' || phase === 'all') runPhase('e2e', findTests(['test/e2e']), ['--test-concurrency=1', '--test-timeout=600000']);
if (phase === 'all') runPhase('teardown', findTests(['test/integration']).filter((f) => f === teardown), ['--test-timeout=900000']);
if (!['unit', 'integration', 'e2e', 'all'].includes(phase)) {
  console.error(`usage: node test/run.mjs unit|integration|e2e|all [node --test options]`);
  process.exit(2);
}

console.log(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedPhase || totals.failed > 0 ? 1 : 0);
