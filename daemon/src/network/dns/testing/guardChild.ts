/**
 * Test helper, not a test: plays the network role for resolverGuard.test.ts. It rewrites the
 * file named in argv[2] as the role would (journal first, owner = this process, or argv[4] when
 * given), starts the guard (its restoring half run from the sources) and prints the guard's pid.
 * Then it waits: "release" on stdin releases the guard and exits; otherwise the test kills it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { startResolverGuard } from '../resolverGuard.js';
import { writeJournal } from '../resolverJournal.js';
import { programFile } from '../../programs.js';

async function main(): Promise<void> {
  const [file, journal, ownerArg] = process.argv.slice(2) as [string, string, string | undefined];
  const original = readFileSync(file);
  const written = Buffer.from('# Telepath test\nnameserver 10.96.0.10\n');
  await writeJournal(journal, {
    version: 1,
    kind: 'resolv.conf',
    path: file,
    original: original.toString('base64'),
    written: written.toString('base64'),
    owner: ownerArg ? Number(ownerArg) : process.pid,
  });
  writeFileSync(file, written);
  const guard = startResolverGuard(journal, { program: [process.execPath, '--import', 'tsx', programFile('network')] });
  process.stdout.write(`guard ${guard.pid}\n`);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'release') void guard.release().then(() => process.exit(0));
  });
}

void main();
