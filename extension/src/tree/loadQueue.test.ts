import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import { CancelledError } from '../util/cancellation.js';
import { LoadQueue } from './loadQueue.js';

/** A job the test finishes by hand, recording when it started. */
function gate(started: string[], name: string): { job: () => Promise<string>; finish: () => void } {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    job: async () => {
      started.push(name);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the tree\'s load queue', () => {
  test('runs at most `concurrency` jobs at once, the rest as slots free', async () => {
    const q = new LoadQueue(2);
    const started: string[] = [];
    const gates = ['a', 'b', 'c', 'd'].map((n) => gate(started, n));
    const results = gates.map((g) => q.run(g.job));
    await tick();
    assert.deepEqual(started, ['a', 'b']);
    assert.equal(q.inFlight, 2);
    gates[0]!.finish();
    await tick();
    assert.deepEqual(started, ['a', 'b', 'c']);
    for (const g of gates) g.finish();
    assert.deepEqual(await Promise.all(results), ['a', 'b', 'c', 'd']);
  });

  test('what the user waits for overtakes background reloads', async () => {
    const q = new LoadQueue(1);
    const started: string[] = [];
    const first = gate(started, 'running');
    const background = gate(started, 'background');
    const urgent = gate(started, 'urgent');
    const all = [q.run(first.job), q.run(background.job), q.run(urgent.job, { urgent: true })];
    await tick();
    first.finish();
    urgent.finish();
    background.finish();
    await Promise.all(all);
    assert.deepEqual(started, ['running', 'urgent', 'background']);
  });

  test('busy from the first job to the end of the last, once each way', async () => {
    const q = new LoadQueue(2);
    const events: boolean[] = [];
    q.onDidChangeBusy((b) => events.push(b));
    const started: string[] = [];
    const a = gate(started, 'a');
    const b = gate(started, 'b');
    const runs = [q.run(a.job), q.run(b.job)];
    assert.equal(q.busy, true);
    let idle = false;
    void q.whenIdle().then(() => (idle = true));
    a.finish();
    await runs[0];
    await tick();
    assert.equal(idle, false, 'b still runs');
    b.finish();
    await runs[1];
    await tick();
    assert.equal(idle, true);
    assert.deepEqual(events, [true, false]);
  });

  test('a job cancelled before its turn never runs', async () => {
    const q = new LoadQueue(1);
    const started: string[] = [];
    const first = gate(started, 'first');
    const second = gate(started, 'second');
    const cancel = new CancellationTokenSource();
    const running = q.run(first.job);
    const waiting = q.run(second.job, { token: cancel.token });
    cancel.cancel();
    first.finish();
    await running;
    await assert.rejects(waiting, CancelledError);
    assert.deepEqual(started, ['first']);
    assert.equal(q.busy, false);
  });

  test('a job that throws fails alone', async () => {
    const q = new LoadQueue(1);
    await assert.rejects(q.run(() => { throw new Error('boom'); }), /boom/);
    assert.equal(await q.run(async () => 'next'), 'next');
  });
});
