/**
 * Debugging with the cluster: "Intercept and Debug" on a port of the tree writes its launch.json
 * entry and starts it; any configuration marked "telepath" gets the intercept and the pod's
 * environment when it starts, and leaves the intercept when it stops; a wrong workload is said so.
 * The debuggee is a small Node program that writes what it got (its environment, a file read
 * through TELEPATH_ROOT) and answers HTTP on its local port, as an intercepted service would.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'jsonc-parser';
import { after, before, describe, it } from 'mocha';
import * as vscode from 'vscode';
import type { PortNode } from '../../extension/src/tree/clusterNode.js';
import { fromClientPod, HEADER, logTail, telepath, telepathLog, treePath, until } from './exthostHarness.js';

const DEBUGGEE = `// Answers HTTP on its local port until it is stopped; once it listens, writes the environment it
// was started with and the pod's Secret read through TELEPATH_ROOT.
const fs = require('fs');
const http = require('http');
const path = require('path');
const port = Number(process.env.LOCAL_PORT || 8080);
http.createServer((req, res) => res.end('answered by the debuggee on ' + port + '\\n')).listen(port, '127.0.0.1', () => {
  let token;
  try {
    token = fs.readFileSync(path.join(process.env.TELEPATH_ROOT, 'etc/sample-secret/token'), 'utf8');
  } catch (e) {
    token = 'unreadable: ' + e.message;
  }
  const out = path.join(__dirname, process.env.DUMP_FILE || 'env.json');
  fs.writeFileSync(out + '.tmp', JSON.stringify({ env: process.env, token }));
  fs.renameSync(out + '.tmp', out);
});
`;

/** The user's own launch.json, which "Intercept and Debug" must keep as it is. */
const USERS_LAUNCH_JSON = `{
  // My own configurations: Telepath adds its entry beside them.
  "version": "0.2.0",
  "configurations": [
    {
      "name": "My server",
      "type": "node",
      "request": "launch",
      "program": "\${workspaceFolder}/dump-env.js" // as I run it without the cluster
    }
  ]
}
`;

interface Dump {
  env: Record<string, string>;
  token: string;
}

function folder(): vscode.WorkspaceFolder {
  const f = vscode.workspace.workspaceFolders?.[0];
  if (!f) throw new Error('the driver opens a workspace folder');
  return f;
}

const file = (name: string): string => path.join(folder().uri.fsPath, name);

async function readDump(name: string): Promise<Dump> {
  const p = file(name);
  await until(`the debuggee to write ${name}`, 60_000, () => existsSync(p));
  return JSON.parse(readFileSync(p, 'utf8')) as Dump;
}

/** Resolves with the next debug session that starts. */
function nextSession(): Promise<vscode.DebugSession> {
  return new Promise((resolve) => {
    const sub = vscode.debug.onDidStartDebugSession((s) => {
      sub.dispose();
      resolve(s);
    });
  });
}

async function stopAndAwaitLeave(session: vscode.DebugSession): Promise<void> {
  const api = await telepath();
  await vscode.debug.stopDebugging(session);
  await until('the intercept to be left when the debug session ended', 60_000, () => api.view().intercepts.length === 0, () => logTail(api));
}

/** The pod's own answer, by its JSON (an echo pod's name), to a request with `header`. */
async function answeredByPod(header: { name: string; value: string }): Promise<string> {
  return until('an echo pod to answer', 30_000, async () => {
    const out = await fromClientPod('http://echo.samples:8080/', header).catch(() => '');
    const pod = out.startsWith('{') ? ((JSON.parse(out) as { pod?: string }).pod ?? '') : '';
    return pod.startsWith('echo-') ? pod : undefined;
  });
}

describe('debugging with the cluster', () => {
  before(() => {
    writeFileSync(file('dump-env.js'), DEBUGGEE);
    writeFileSync(file('package.json'), JSON.stringify({ name: 'local-echo', version: '1.0.0', main: 'dump-env.js' }, null, 2));
    mkdirSync(file('.vscode'), { recursive: true });
    writeFileSync(file('.vscode/launch.json'), USERS_LAUNCH_JSON);
  });

  after(async () => {
    await vscode.debug.stopDebugging();
    for (const f of ['env.json', 'own-env.json']) rmSync(file(f), { force: true });
  });

  it('"Intercept and Debug" on echo:http/8080 writes its entry beside the user\'s, debugs with the pod\'s environment, and leaves when stopped', async function () {
    this.timeout(300_000);
    const api = await telepath();
    const port = (await treePath(api, 'telepath-local', 'samples', 'echo', 'echo:http/8080')) as PortNode;
    const started = nextSession();
    let finished = false;
    // The node from the tree's context menu; then three questions, each answered with Enter on
    // what is offered first: the local port (the container's, 8080), the mode (Personal, the
    // default), the launch configuration ("New Node.js configuration": the folder has a package.json).
    const command = Promise.resolve(vscode.commands.executeCommand('telepath.interceptAndDebug', port)).finally(() => (finished = true));
    while (!finished) {
      await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
      await new Promise((r) => setTimeout(r, 500));
    }
    await command;
    const session = await Promise.race([started, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1_000))]);
    assert.ok(session, `no debug session started; ${logTail(api)}`);
    assert.equal(session.name, 'Telepath: Intercept echo (samples)');

    const launch = readFileSync(file('.vscode/launch.json'), 'utf8');
    assert.ok(launch.includes('// My own configurations: Telepath adds its entry beside them.'), launch);
    assert.ok(launch.includes('"program": "${workspaceFolder}/dump-env.js" // as I run it without the cluster'), launch);
    const configs = (parse(launch) as { configurations: Record<string, unknown>[] }).configurations;
    assert.deepEqual(configs.map((c) => c.name), ['My server', 'Telepath: Intercept echo (samples)']);
    assert.deepEqual(configs[1], {
      name: 'Telepath: Intercept echo (samples)',
      type: 'node',
      request: 'launch',
      program: '${workspaceFolder}/dump-env.js',
      skipFiles: ['<node_internals>/**'],
      telepath: { workload: 'echo', namespace: 'samples', port: 'http', localPort: 8080, mode: 'personal', header: `${HEADER.name}=${HEADER.value}` },
    });

    const dump = await readDump('env.json');
    assert.equal(dump.env.SAMPLE_SECRET, 's3cr3t-from-a-secret', 'from the pod’s Secret');
    assert.equal(dump.env.SAMPLE_GREETING, 'hello from echo');
    assert.match(dump.env.POD_NAME ?? '', /^echo-/);
    assert.ok(dump.env.TELEPATH_ROOT, 'TELEPATH_ROOT: the pod’s volumes are mounted');
    assert.equal(dump.token, 's3cr3t-from-a-secret', 'the Secret’s file read through TELEPATH_ROOT');

    const [mine] = api.view().intercepts;
    assert.deepEqual(
      mine && { name: mine.name, workload: mine.workload, localPort: mine.localPort, mode: mine.mode, headers: mine.headers },
      { name: 'echo', workload: 'deployment/echo', localPort: 8080, mode: 'personal', headers: [HEADER] },
    );
    // The tree fetches samples again after the status change, the old ports shown meanwhile.
    const shown = await until('the tree to show echo:http/8080 intercepted by you', 30_000, async () => {
      const port = (await treePath(api, 'telepath-local', 'samples', 'echo', 'echo:http/8080')) as PortNode;
      return port.state === 'mine' && port;
    });
    assert.equal((await api.tree.getTreeItem(shown)).description, 'intercepted by you · personal → localhost:8080');
    // A request with the header from inside the cluster reaches the debuggee.
    assert.equal(await fromClientPod('http://echo.samples:8080/', HEADER), 'answered by the debuggee on 8080\n');

    await stopAndAwaitLeave(session);
    await answeredByPod(HEADER);
  });

  it('a configuration marked "telepath" gets the pod\'s environment when it starts, its own env winning', async function () {
    this.timeout(300_000);
    const api = await telepath();
    const header = { name: HEADER.name, value: 'exthost-own' };
    const started = nextSession();
    const ok = await vscode.debug.startDebugging(folder(), {
      name: 'My server with the cluster',
      type: 'node',
      request: 'launch',
      program: '${workspaceFolder}/dump-env.js',
      env: { DUMP_FILE: 'own-env.json', LOCAL_PORT: '18097', SAMPLE_GREETING: 'mine, not the pod’s' },
      telepath: { workload: 'echo', namespace: 'samples', localPort: 18097, mode: 'personal', header: `${header.name}=${header.value}` },
    });
    assert.equal(ok, true, logTail(api));
    const session = await started;
    const dump = await readDump('own-env.json');
    assert.equal(dump.env.SAMPLE_GREETING, 'mine, not the pod’s');
    assert.equal(dump.env.SAMPLE_SECRET, 's3cr3t-from-a-secret');
    assert.equal(dump.env.TELEPATH_ROOT, api.view().intercepts[0]?.mountPoint);
    assert.deepEqual(api.view().intercepts.map((i) => [i.name, i.localPort, i.headers]), [['echo', 18097, [header]]]);
    assert.equal(await fromClientPod('http://echo.samples:8080/', header), 'answered by the debuggee on 18097\n');
    await answeredByPod(HEADER);
    await stopAndAwaitLeave(session);
  });

  it('a configuration naming a workload that does not exist does not start, and the user is told why', async function () {
    this.timeout(120_000);
    const api = await telepath();
    const ok = await vscode.debug.startDebugging(folder(), {
      name: 'Not there',
      type: 'node',
      request: 'launch',
      program: '${workspaceFolder}/dump-env.js',
      telepath: { workload: 'no-such-workload', namespace: 'samples', localPort: 18098, mode: 'personal' },
    });
    assert.equal(ok, false);
    // showError logs what it shows in the notification, with the category.
    const expected = '[user] Cannot start "Not there": no Deployment, StatefulSet or ReplicaSet named "no-such-workload" in namespace samples; "telepath list --namespace samples" shows what can be intercepted.';
    await until('the message in the Telepath log', 10_000, () => telepathLog(api).includes(expected), () => logTail(api));
    assert.deepEqual(api.view().intercepts, []);
  });
});
