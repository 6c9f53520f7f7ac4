/**
 * Compiles the extension-host suite into CommonJS files VS Code's extension host can `require`:
 * index.js and one bundle per test file, with `vscode` (given by the extension host) and mocha
 * (from node_modules) left external. Into dist/exthost/, which is git-ignored, not linted and not
 * packaged (.vscodeignore); inside the repository, so `require('mocha')` finds node_modules.
 */
import { buildSync } from 'esbuild';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { SUITE_FILES } from './suite.js';

const here = import.meta.dirname;
export const suiteOutDir = path.resolve(here, '../../dist/exthost');

/** Builds the suite; returns the path of its index.js (the payload's extensionTestsPath). */
export function buildExthostSuite(): string {
  rmSync(suiteOutDir, { recursive: true, force: true });
  buildSync({
    entryPoints: [path.join(here, 'index.ts'), ...SUITE_FILES.map((f) => path.join(here, `${f}.test.ts`))],
    outdir: suiteOutDir,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'mocha'],
    // ESM entry points first: jsonc-parser's UMD main requires its parts dynamically.
    mainFields: ['module', 'main'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  return path.join(suiteOutDir, 'index.js');
}
