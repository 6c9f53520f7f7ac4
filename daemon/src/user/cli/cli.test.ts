import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { DaemonPaths } from '../../../../common/src/daemonPaths.js';
import { main } from './cli.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-cli-'));
after(() => fs.rmSync(base, { recursive: true, force: true }));

function run(argv: string[], paths: DaemonPaths): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  return main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) }, paths).then((code) => ({ code, out, err }));
}

test('a planted socket directory is refused before the CLI connects to it or starts a daemon there', async () => {
  // Someone made the fallback directory first, open to all, and listens in it as the daemon would.
  const dir = path.join(base, 'telepath-1000');
  fs.mkdirSync(path.join(dir, 'telepath'), { recursive: true, mode: 0o777 });
  fs.chmodSync(dir, 0o777);
  const socket = path.join(dir, 'telepath/daemon.sock');
  let connections = 0;
  const impostor = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => impostor.listen(socket, resolve));
  try {
    const paths: DaemonPaths = { socket, logFile: path.join(base, 'daemon.log'), journalDir: path.join(base, 'journal'), privateRunDir: dir };
    for (const argv of [['status'], ['connect'], ['quit'], ['version']]) {
      const r = await run(argv, paths);
      assert.equal(r.code, 3, `${argv.join(' ')}: ${r.err}`);
      assert.match(r.err, /^telepath: refusing the daemon's socket directory: .*telepath-1000 has mode 0777, not 0700: .*Remove it .*or set XDG_RUNTIME_DIR/);
    }
    assert.equal(connections, 0, 'the impostor was never asked anything');
    assert.ok(!fs.existsSync(paths.logFile), 'no daemon was started');
    assert.equal((await run(['help'], paths)).code, 0, 'help needs no daemon');
  } finally {
    impostor.close();
  }
});
