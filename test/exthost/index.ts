/**
 * The extension's integration tests, run by VS Code inside its extension host: the workbench
 * loads this file (the launch payload's `extensionTestsPath`) after registering the extension
 * under development (`extensionDevelopmentPath`), calls run(), and exits with 0 when the promise
 * resolves, 1 when it rejects. test/e2e/extensionHost.test.ts starts it all and turns each
 * reported result (suite.ts) into a test of its own.
 */
import path from 'node:path';
import Mocha from 'mocha';
import { formatEvent, SUITE_FILES, type ExthostEvent } from './suite.js';

export function run(): Promise<void> {
  // bail: the files build on each other (connected, then intercepts, ...); after a failure the
  // rest would only wait out their timeouts on the shared cluster.
  const mocha = new Mocha({ ui: 'bdd', reporter: 'spec', color: false, timeout: 120_000, bail: true });
  for (const name of SUITE_FILES) mocha.addFile(path.join(__dirname, `${name}.test.js`));
  const report = (e: ExthostEvent): void => console.log(formatEvent(e));
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension host test(s) failed`)) : resolve()));
    runner.on('pass', (t) => report({ title: t.fullTitle(), state: 'passed', ...(t.duration !== undefined ? { durationMs: t.duration } : {}) }));
    runner.on('pending', (t) => report({ title: t.fullTitle(), state: 'pending' }));
    runner.on('fail', (t, err: Error) => report({ title: t.fullTitle(), state: 'failed', error: err.stack ?? String(err) }));
  });
}
